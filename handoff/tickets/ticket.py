"""A ticket: what a conversation was about, in the fields a bank's back office files.

Filled automatically when a conversation ends (offline, optionally improved by an LLM),
then confirmed or edited by the agent, so the JSON form here is also what the agent's UI
submits. Every ticket is valid by construction: no full card or account number, no field
longer than the back office takes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from handoff.tickets.schema import ticket_schema, validate
from handoff.tickets.taxonomy import Taxonomy
from sessions.masking import has_long_number

__all__ = ["TICKET_FIELDS", "Amount", "FilledBy", "Ticket", "TicketError"]

FilledBy: TypeAlias = Literal["offline", "llm"]
TICKET_FIELDS: tuple[str, ...] = (
    "category",
    "sub_category",
    "summary",
    "customer_request",
    "resolution",
    "amounts",
    "dates",
    "card_or_account",
    "intent",
    "filled_by",
    "sources",
)


class TicketError(ValueError):
    """A ticket that cannot be filed; `problems` lists each as "path: what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid ticket: " + "; ".join(problems))
        self.problems: tuple[str, ...] = tuple(problems)


@dataclass(frozen=True, slots=True)
class Amount:
    """A sum of money: `value` a plain decimal ("12.50"), `currency` ISO 4217 if known."""

    value: str
    currency: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "currency": self.currency}


@dataclass(frozen=True, slots=True)
class Ticket:
    """One conversation's ticket.

    `dates` are ISO days or intervals ("2024-05-01/2024-05-07"). `card_or_account` names
    a card or account by its last digits only ("card ending 1234"). `intent` is the
    understood intent the category came from, if any. `sources` says where each
    automatically filled field came from ("slots", "intent", "message", "llm"...), so
    the agent knows what to check.
    """

    category: str
    sub_category: str
    summary: str
    customer_request: str
    resolution: str = ""
    amounts: tuple[Amount, ...] = ()
    dates: tuple[str, ...] = ()
    card_or_account: str | None = None
    intent: str | None = None
    filled_by: FilledBy = "offline"
    sources: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Frozen and read-only all the way down: a ticket handed to the UI cannot change.
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))
        object.__setattr__(self, "amounts", tuple(self.amounts))
        object.__setattr__(self, "dates", tuple(self.dates))
        problems = _problems(self.to_json(), None)
        if problems:
            raise TicketError(problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "sub_category": self.sub_category,
            "summary": self.summary,
            "customer_request": self.customer_request,
            "resolution": self.resolution,
            "amounts": [amount.to_json() for amount in self.amounts],
            "dates": list(self.dates),
            "card_or_account": self.card_or_account,
            "intent": self.intent,
            "filled_by": self.filled_by,
            "sources": dict(self.sources),
        }

    @classmethod
    def from_json(cls, raw: object, *, taxonomy: Taxonomy | None = None) -> Ticket:
        """A ticket from its JSON form, or `TicketError` listing every problem.

        With a `taxonomy`, the category must be one of its categories and the
        sub-category one of that category's.
        """
        problems = _problems(raw, taxonomy)
        if problems:
            raise TicketError(problems)
        assert isinstance(raw, Mapping)
        return cls(
            category=raw["category"],
            sub_category=raw["sub_category"],
            summary=raw["summary"],
            customer_request=raw["customer_request"],
            resolution=raw.get("resolution", ""),
            amounts=tuple(
                Amount(item["value"], item["currency"]) for item in raw.get("amounts", ())
            ),
            dates=tuple(raw.get("dates", ())),
            card_or_account=raw.get("card_or_account"),
            intent=raw.get("intent"),
            filled_by=raw.get("filled_by", "offline"),
            sources=raw.get("sources", {}),
        )


def _problems(raw: object, taxonomy: Taxonomy | None) -> list[str]:
    problems = validate(raw, ticket_schema(taxonomy, llm=False))
    if problems or not isinstance(raw, Mapping):
        return problems
    for position, text in enumerate(raw.get("dates", ())):
        problem = _date_problem(text)
        if problem:
            problems.append(f"ticket.dates[{position}]: {problem}")
    card = raw.get("card_or_account")
    if card is not None and has_long_number(card):
        problems.append(
            "ticket.card_or_account: must not hold a full card or account number;"
            " keep the last 4 digits, e.g. 'card ending 1234'"
        )
    for key in raw.get("sources", {}):
        if key not in TICKET_FIELDS:
            problems.append(f"ticket.sources.{key}: not a ticket field")
    if taxonomy is not None and not taxonomy.allows(raw["category"], raw["sub_category"]):
        problems.append(
            f"ticket.sub_category: {raw['sub_category']!r} is not a sub-category of"
            f" {raw['category']!r}"
        )
    return problems


def _date_problem(text: str) -> str | None:
    try:
        days = [date.fromisoformat(part) for part in text.split("/")]
    except ValueError:
        return f"{text!r} is not a real date"
    if len(days) == 2 and days[0] > days[1]:
        return f"{text!r} ends before it starts"
    return None
