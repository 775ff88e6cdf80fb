"""The six self-service flows: what each needs, asks, confirms, does and says.

The engine (`handoff.selfservice.service`) is generic; everything particular to a task is
in its `FlowSpec` here. Slot values are the JSON-safe shapes documented in `model`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from handoff.selfservice.corebanking import Account, Card, CoreBanking, Transfer
from handoff.selfservice.model import EscalationReason, SlotName
from handoff.selfservice.wording import account_label, card_label, day, money

__all__ = [
    "FLOWS",
    "FlowSpec",
    "Outcome",
    "Stop",
    "account_value",
    "card_value",
]

Slots = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a completed bank operation means for the customer and for the log."""

    say: str
    result: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Stop:
    """The chosen card rules the task out: say why, and hand over if a person can help."""

    say: str
    escalate: EscalationReason | None = None
    # Why, for the agent's summary.
    detail: str = ""


def _no_check(_: Slots) -> Stop | None:
    return None


def _prefer_usable(card: Card) -> bool:
    return card.status != "lost"


@dataclass(frozen=True, slots=True)
class FlowSpec:
    name: str
    # For agents' summaries: "freeze a card".
    title: str
    # For the customer, after "I couldn't ...": "freeze your card".
    doing: str
    slots: tuple[SlotName, ...]
    # The CoreBanking operation it ends with, as `CompletedTask.action` names it.
    action: str
    # The question for each slot, given what is already known.
    asks: Mapping[str, Callable[[Slots], str]]
    run: Callable[[CoreBanking, str, Slots, str], Awaitable[Outcome]]
    # None for a read-only flow: it acts without asking.
    confirm: Callable[[Slots], str] | None
    # Where a failure goes: the intent, queue and priority of the escalation.
    intent: str
    queue: str
    priority: int
    # Among several cards, the ones the task can act on.
    prefer: Callable[[Card], bool] = _prefer_usable
    # Run once the card is known, before asking anything else.
    check: Callable[[Slots], Stop | None] = _no_check
    # Bank error codes the customer can fix by answering a slot again.
    retry_on: Mapping[str, SlotName] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The table is shared by every conversation: make its mappings read-only too.
        object.__setattr__(self, "asks", MappingProxyType(dict(self.asks)))
        object.__setattr__(self, "retry_on", MappingProxyType(dict(self.retry_on)))
        if missing := set(self.slots) - set(self.asks):
            raise ValueError(f"flow {self.name!r}: no question for {sorted(missing)}")


def card_value(card: Card) -> dict[str, Any]:
    return {
        "id": card.id,
        "last4": card.last4,
        "kind": card.kind,
        "network": card.network,
        "status": card.status,
        "currency": card.currency,
        "daily_limit": f"{card.daily_limit:.2f}",
        "label": card_label(card),
    }


def account_value(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "name": account.name,
        "currency": account.currency,
        "label": account_label(account),
    }


def _label(slots: Slots) -> str:
    return str(slots["card"]["label"])


def _card_id(slots: Slots) -> str:
    return str(slots["card"]["id"])


def _amount(slots: Slots) -> Decimal:
    return Decimal(str(slots["amount"]["value"]))


# -- freeze_card -------------------------------------------------------------------------


def _check_freeze(slots: Slots) -> Stop | None:
    status = slots["card"]["status"]
    if status == "frozen":
        return Stop(
            f"Your {_label(slots)} is already frozen. You can unfreeze it here whenever you like."
        )
    if status == "lost":
        return Stop(
            f"Your {_label(slots)} was reported lost or stolen, so it is already blocked for good."
        )
    return None


async def _freeze(bank: CoreBanking, customer: str, slots: Slots, request_id: str) -> Outcome:
    card = await bank.freeze_card(customer, _card_id(slots), request_id)
    return Outcome(
        f"Done: your {_label(slots)} is frozen, so no payments or withdrawals can be made "
        "with it. You can unfreeze it here whenever you like.",
        {"card_id": card.id, "status": card.status},
    )


# -- unfreeze_card -----------------------------------------------------------------------


def _check_unfreeze(slots: Slots) -> Stop | None:
    status = slots["card"]["status"]
    if status == "active":
        return Stop(f"Your {_label(slots)} isn't frozen: it's ready to use.")
    if status == "lost":
        return Stop(
            f"Your {_label(slots)} was reported lost or stolen, so it can't be unfrozen. "
            "I'm passing you to a colleague who can help.",
            escalate="not_allowed",
            detail="the card was reported lost, and a lost card cannot be unfrozen",
        )
    return None


async def _unfreeze(bank: CoreBanking, customer: str, slots: Slots, request_id: str) -> Outcome:
    card = await bank.unfreeze_card(customer, _card_id(slots), request_id)
    return Outcome(
        f"Done: your {_label(slots)} is unfrozen and ready to use again.",
        {"card_id": card.id, "status": card.status},
    )


# -- report_lost_card --------------------------------------------------------------------


def _check_report(slots: Slots) -> Stop | None:
    if slots["card"]["status"] == "lost":
        return Stop(
            f"Your {_label(slots)} has already been reported lost or stolen. I'm passing "
            "you to a colleague who can check on your replacement.",
            escalate="not_allowed",
            detail="the card was already reported lost; the customer may be after the replacement",
        )
    return None


async def _report_lost(bank: CoreBanking, customer: str, slots: Slots, request_id: str) -> Outcome:
    order = await bank.report_lost_card(customer, _card_id(slots), request_id)
    return Outcome(
        f"Done: your {_label(slots)} is blocked for good and a replacement is on its way "
        f"(order {order.order_id}), expected by {day(order.delivery_estimate)}. If you see "
        "any payments you didn't make, tell me and I'll bring in our fraud team.",
        {
            "card_id": order.card_id,
            "order_id": order.order_id,
            "delivery_estimate": order.delivery_estimate.isoformat(),
        },
    )


# -- card_limit --------------------------------------------------------------------------


def _check_limit(slots: Slots) -> Stop | None:
    if slots["card"]["status"] == "lost":
        return Stop(
            f"Your {_label(slots)} was reported lost or stolen, so its limit can't be changed."
        )
    return None


def _ask_limit(slots: Slots) -> str:
    card = slots["card"]
    now = money(Decimal(card["daily_limit"]), card["currency"])
    return (
        f"What would you like the new daily limit of your {card['label']} to be? "
        f"It's {now} at the moment."
    )


def _confirm_limit(slots: Slots) -> str:
    card = slots["card"]
    old = money(Decimal(card["daily_limit"]), card["currency"])
    new = money(_amount(slots), card["currency"])
    return (
        f"I'll change the daily limit of your {card['label']} from {old} to {new}. "
        "Shall I go ahead?"
    )


async def _set_limit(bank: CoreBanking, customer: str, slots: Slots, request_id: str) -> Outcome:
    card = await bank.set_card_limit(customer, _card_id(slots), _amount(slots), request_id)
    return Outcome(
        f"Done: the daily limit of your {_label(slots)} is now "
        f"{money(card.daily_limit, card.currency)}.",
        {"card_id": card.id, "daily_limit": f"{card.daily_limit:.2f}", "currency": card.currency},
    )


# -- balance -----------------------------------------------------------------------------


async def _balance(bank: CoreBanking, customer: str, slots: Slots, request_id: str) -> Outcome:
    account = slots["account"]
    held = await bank.balance(customer, str(account["id"]))
    return Outcome(
        f"The balance of your {account['name']} account is {money(held.amount, held.currency)}.",
        {"account_id": account["id"], "amount": f"{held.amount:.2f}", "currency": held.currency},
    )


# -- transfer_status ---------------------------------------------------------------------


def _transfer_news(transfer: Transfer) -> str:
    what = (
        f"Your transfer {transfer.reference} of {money(transfer.amount, transfer.currency)} "
        f"to {transfer.recipient}, made on {day(transfer.created)},"
    )
    if transfer.status == "completed":
        return f"{what} has been completed, so the money has left your account."
    if transfer.status == "failed":
        return (
            f"{what} failed, so the money was not sent and stays in your account. You can "
            "check the recipient's details and try again."
        )
    return f"{what} is still being processed. You'll see it as completed once it has gone through."


async def _transfer_status(
    bank: CoreBanking, customer: str, slots: Slots, request_id: str
) -> Outcome:
    transfer = await bank.transfer_status(customer, str(slots["transfer_ref"]))
    return Outcome(
        _transfer_news(transfer),
        {
            "reference": transfer.reference,
            "status": transfer.status,
            "amount": f"{transfer.amount:.2f}",
            "currency": transfer.currency,
            "created": transfer.created.isoformat(),
            "recipient": transfer.recipient,
        },
    )


# -- the table ---------------------------------------------------------------------------


def _ask(text: str) -> Callable[[Slots], str]:
    return lambda _: text


_ASK_TRANSFER = _ask("Which transfer is it about? Pick one below or give me its reference.")

FLOWS: Mapping[str, FlowSpec] = MappingProxyType(
    {
        "freeze_card": FlowSpec(
            name="freeze_card",
            action="freeze_card",
            title="freeze a card",
            doing="freeze your card",
            slots=("card",),
            asks={"card": _ask("Which card would you like to freeze?")},
            run=_freeze,
            confirm=lambda s: (
                f"I'll freeze your {_label(s)}: no payments or withdrawals can be made with "
                "it until you unfreeze it. Shall I go ahead?"
            ),
            intent="freeze_card",
            queue="cards",
            priority=7,
            prefer=lambda card: card.status == "active",
            check=_check_freeze,
        ),
        "unfreeze_card": FlowSpec(
            name="unfreeze_card",
            action="unfreeze_card",
            title="unfreeze a card",
            doing="unfreeze your card",
            slots=("card",),
            asks={"card": _ask("Which card would you like to unfreeze?")},
            run=_unfreeze,
            confirm=lambda s: (
                f"I'll unfreeze your {_label(s)} so it can be used again. Shall I go ahead?"
            ),
            intent="unfreeze_card",
            queue="cards",
            priority=3,
            prefer=lambda card: card.status == "frozen",
            check=_check_unfreeze,
        ),
        "report_lost_card": FlowSpec(
            name="report_lost_card",
            action="report_lost_card",
            title="report a lost or stolen card",
            doing="report your card lost",
            slots=("card",),
            asks={"card": _ask("Which card is lost or stolen?")},
            run=_report_lost,
            confirm=lambda s: (
                f"I'll report your {_label(s)} as lost or stolen: it will be blocked for good "
                "and a replacement sent to your address on file. Shall I go ahead?"
            ),
            intent="lost_or_stolen_card",
            queue="cards",
            priority=8,
            check=_check_report,
        ),
        "card_limit": FlowSpec(
            name="card_limit",
            action="set_card_limit",
            title="change a card's daily limit",
            doing="change your card's limit",
            slots=("card", "amount"),
            asks={
                "card": _ask("Which card's daily limit would you like to change?"),
                "amount": _ask_limit,
            },
            run=_set_limit,
            confirm=_confirm_limit,
            intent="change_card_limit",
            queue="cards",
            priority=3,
            check=_check_limit,
            retry_on={"limit_out_of_range": "amount"},
        ),
        "balance": FlowSpec(
            name="balance",
            action="balance",
            title="check a balance",
            doing="get your balance",
            slots=("account",),
            asks={"account": _ask("Which account would you like the balance of?")},
            run=_balance,
            confirm=None,
            intent="check_balance",
            queue="account",
            priority=2,
        ),
        "transfer_status": FlowSpec(
            name="transfer_status",
            action="transfer_status",
            title="check a transfer",
            doing="check that transfer",
            slots=("transfer_ref",),
            asks={"transfer_ref": _ASK_TRANSFER},
            run=_transfer_status,
            confirm=None,
            intent="pending_transfer",
            queue="transfers",
            priority=4,
            retry_on={"not_found": "transfer_ref"},
        ),
    }
)
