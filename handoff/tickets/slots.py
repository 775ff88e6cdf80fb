"""Amounts, dates and the card or account a ticket is about, read from understood slots.

The NLU's slot names and value shapes are not fixed yet, so this reads them leniently:
a slot is recognised by its name ("amount", "date", "card"...), its value may be a
normalised mapping or a string, and anything unreadable is skipped (the agent checks
the ticket anyway; a wrong figure is worse than a missing one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from handoff.tickets.schema import MAX_AMOUNTS, MAX_DATES
from handoff.tickets.ticket import Amount
from handoff.tickets.understood import SlotLike

__all__ = ["amount_of", "card_or_account_of", "date_of", "slot_amounts", "slot_dates"]

_AMOUNT_NAMES = frozenset({"money", "sum", "price", "fee", "limit", "new_limit"})
_DATE_NAMES = frozenset({"period", "day", "when"})
_CARD_NAMES = frozenset({"card", "last4", "card_last4", "pan"})
_ACCOUNT_NAMES = frozenset({"account", "iban"})
_SYMBOLS: Mapping[str, str] = {"€": "EUR", "$": "USD", "£": "GBP", "¥": "JPY", "₹": "INR"}
_CURRENCY = re.compile(r"\b[A-Z]{3}\b")
_NUMBER = re.compile(r"\d[\d,. ]*")
_LAST = 4


def slot_amounts(slots: Iterable[SlotLike]) -> tuple[Amount, ...]:
    """Every readable amount, in order, without repeats."""
    found = (amount_of(slot.value, slot.text) for slot in slots if _is_amount(slot.name))
    unique = dict.fromkeys(amount for amount in found if amount is not None)
    return tuple(unique)[:MAX_AMOUNTS]


def slot_dates(slots: Iterable[SlotLike]) -> tuple[str, ...]:
    """Every readable date or period as ISO text, in order, without repeats."""
    found = (date_of(slot.value) for slot in slots if _is_date(slot.name))
    return tuple(dict.fromkeys(day for day in found if day is not None))[:MAX_DATES]


def card_or_account_of(name: str, value: Mapping[str, Any] | str, text: str = "") -> str | None:
    """The slot's card or account by its last digits ("card ending 1234"), else None."""
    key = _key(name)
    if key in _CARD_NAMES or "card" in key:
        label = "card"
    elif key in _ACCOUNT_NAMES or "account" in key:
        label = "account"
    else:
        return None
    if isinstance(value, Mapping):
        raw = next(
            (value[k] for k in ("last4", "number", "value", "text") if value.get(k) is not None),
            "",
        )
    else:
        raw = value
    digits = re.sub(r"\D", "", str(raw)) or re.sub(r"\D", "", text)
    if len(digits) < _LAST:
        return None
    return f"{label} ending {digits[-_LAST:]}"


def amount_of(value: Mapping[str, Any] | str, text: str = "") -> Amount | None:
    """An amount from a normalised value ({"value"/"amount", "currency"} or "12.50 EUR")."""
    if isinstance(value, Mapping):
        number = value.get("value", value.get("amount"))
        currency = value.get("currency", value.get("unit"))
        parsed = _decimal(number if isinstance(number, str) else _plain(number))
        if parsed is None:
            return amount_of(text) if text else None
        return Amount(parsed, _currency(currency))
    match = _NUMBER.search(value)
    parsed = _decimal(match.group().strip()) if match else None
    if parsed is None:
        return amount_of(text) if text and text != value else None
    return Amount(parsed, _currency_in(value) or (_currency_in(text) if text else None))


def date_of(value: Mapping[str, Any] | str) -> str | None:
    """An ISO day or interval from {"date"}/{"value"}/{"start", "end"} or ISO text."""
    if isinstance(value, Mapping):
        start = value.get("start", value.get("from"))
        end = value.get("end", value.get("to"))
        if start is not None and end is not None:
            first, last = _day(start), _day(end)
            if first is None or last is None or first > last:
                return None
            return first.isoformat() if first == last else f"{first}/{last}"
        single = value.get("date", value.get("value"))
        return date_of(single) if isinstance(single, str) else None
    if "/" in value:
        first_text, _, last_text = value.partition("/")
        return date_of({"start": first_text, "end": last_text})
    day = _day(value)
    return day.isoformat() if day else None


def _key(name: str) -> str:
    return name.strip().casefold().replace("-", "_").replace(" ", "_")


def _is_amount(name: str) -> bool:
    key = _key(name)
    return "amount" in key or key in _AMOUNT_NAMES


def _is_date(name: str) -> bool:
    key = _key(name)
    return "date" in key or key in _DATE_NAMES


def _plain(number: object) -> str | None:
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        return None
    return str(number)


def _decimal(text: str | None) -> str | None:
    if not text:
        return None
    text = text.replace(" ", "").rstrip(".,")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", text):
        text = text.replace(",", "")  # 1,250.00
    elif re.fullmatch(r"\d{1,3}(\.\d{3})+(,\d+)?", text):
        text = text.replace(".", "").replace(",", ".")  # 1.250,00
    elif re.fullmatch(r"\d+,\d{1,2}", text):
        text = text.replace(",", ".")  # 12,50
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    if not number.is_finite() or number < 0:
        return None
    plain = format(number, "f")
    return plain if re.fullmatch(r"\d{1,15}(\.\d{1,4})?", plain) else None


def _currency(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    raw = raw.strip()
    if raw in _SYMBOLS:
        return _SYMBOLS[raw]
    return raw.upper() if re.fullmatch(r"[A-Za-z]{3}", raw) else None


def _currency_in(text: str) -> str | None:
    for symbol, code in _SYMBOLS.items():
        if symbol in text:
            return code
    match = _CURRENCY.search(text)
    return match.group() if match else None


def _day(raw: object) -> date | None:
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None
