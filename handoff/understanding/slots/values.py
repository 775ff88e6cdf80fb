"""What an extracted slot means: normalised, typed values, and their JSON form.

Values are plain frozen dataclasses or `datetime.date` / `datetime.time`, so callers can
compare and compute with them; `value_to_json` gives the wire form for the REST API.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Literal

__all__ = [
    "AccountReference",
    "CardReference",
    "DatePeriod",
    "JsonValue",
    "Money",
    "Slot",
    "SlotValue",
    "TimePeriod",
    "value_to_json",
]

# "absolute": a resolved range; "relative": a length only ("for 3 days");
# "periodic": a recurring day ("the 4th of each month"); "ambiguous": "lately".
PeriodKind = Literal["absolute", "relative", "periodic", "ambiguous"]


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    # ISO 4217, or None when the text gives no currency ("more than 400").
    currency: str | None


@dataclass(frozen=True, slots=True)
class DatePeriod:
    kind: PeriodKind
    start: date | None = None
    end: date | None = None  # inclusive
    days: int | None = None  # the length, for a relative period


@dataclass(frozen=True, slots=True)
class TimePeriod:
    kind: PeriodKind
    start: time | None = None
    end: time | None = None
    minutes: int | None = None  # the length, for a relative period


@dataclass(frozen=True, slots=True)
class CardReference:
    product: str | None  # "credit", "debit", "virtual", ...
    last4: str | None


@dataclass(frozen=True, slots=True)
class AccountReference:
    product: str | None  # "savings", "current", "joint", ...
    last4: str | None


SlotValue = Money | date | time | DatePeriod | TimePeriod | CardReference | AccountReference | str


@dataclass(frozen=True, slots=True)
class Slot:
    """One piece of information in an utterance: `text == utterance[span[0]:span[1]]`."""

    name: str
    text: str
    span: tuple[int, int]
    value: SlotValue


JsonValue = str | int | float | bool | None | dict[str, "JsonValue"] | list["JsonValue"]


def _iso(moment: date | time | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, time):
        return moment.strftime("%H:%M")
    return moment.isoformat()


def value_to_json(value: SlotValue) -> JsonValue:
    """The JSON form: amounts as decimal strings, dates ISO 8601, times HH:MM."""
    match value:
        case Money(amount=amount, currency=currency):
            return {"amount": format(amount, "f"), "currency": currency}
        case DatePeriod(kind=kind, start=start, end=end, days=days):
            return {"kind": kind, "start": _iso(start), "end": _iso(end), "days": days}
        case TimePeriod(kind=kind, start=start, end=end, minutes=minutes):
            return {"kind": kind, "start": _iso(start), "end": _iso(end), "minutes": minutes}
        case CardReference(product=product, last4=last4):
            return {"product": product, "last4": last4}
        case AccountReference(product=product, last4=last4):
            return {"product": product, "last4": last4}
        case time() | date():
            return _iso(value)
        case str():
            return value
    raise TypeError(f"not a slot value: {value!r}")
