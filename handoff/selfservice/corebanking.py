"""The CoreBanking port a bank plugs its core system into, and an in-memory demo bank.

Every mutating operation takes a `request_id` and is idempotent per request id: the
orchestrator may react to one customer message twice (a replayed feed, a second node),
and the second reaction must get the first one's result instead of freezing twice or
ordering two replacement cards.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Literal, Protocol, TypeAlias, TypeVar, cast

__all__ = [
    "Account",
    "Card",
    "CardKind",
    "CardStatus",
    "CoreBanking",
    "CoreBankingError",
    "DemoBank",
    "ErrorCode",
    "Money",
    "ReplacementOrder",
    "Transfer",
    "TransferStatus",
]

CardKind: TypeAlias = Literal["debit", "credit"]
# "lost" is final: the card was reported lost or stolen and is blocked for good.
CardStatus: TypeAlias = Literal["active", "frozen", "lost"]
TransferStatus: TypeAlias = Literal["pending", "completed", "failed"]
ErrorCode: TypeAlias = Literal["not_found", "not_allowed", "limit_out_of_range", "unavailable"]

_T = TypeVar("_T")


class CoreBankingError(Exception):
    """A refusal or failure of the core system, with a machine-readable `code`."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: ErrorCode = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    name: str
    currency: str
    balance: Decimal


@dataclass(frozen=True, slots=True)
class Card:
    id: str
    last4: str
    kind: CardKind
    # The card scheme ("Visa", "Mastercard"): how customers tell their cards apart.
    network: str
    status: CardStatus
    daily_limit: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Transfer:
    reference: str
    amount: Decimal
    currency: str
    status: TransferStatus
    created: date
    recipient: str


@dataclass(frozen=True, slots=True)
class ReplacementOrder:
    order_id: str
    card_id: str
    delivery_estimate: date


class CoreBanking(Protocol):
    """What self-service needs from the core banking system.

    Unknown customers, accounts, cards and transfers raise `CoreBankingError("not_found")`;
    an operation the card's state forbids raises "not_allowed"; a limit outside the card's
    range raises "limit_out_of_range"; an outage raises "unavailable". The message of a
    "limit_out_of_range" is shown to the customer, so it should state the allowed range;
    other messages only reach agents.
    """

    async def list_accounts(self, customer: str) -> Sequence[Account]: ...

    async def list_cards(self, customer: str) -> Sequence[Card]: ...

    async def list_transfers(self, customer: str) -> Sequence[Transfer]:
        """The customer's recent transfers, most recent first."""
        ...

    async def balance(self, customer: str, account_id: str) -> Money: ...

    async def transfer_status(self, customer: str, reference: str) -> Transfer: ...

    async def freeze_card(self, customer: str, card_id: str, request_id: str) -> Card:
        """Block the card until unfrozen. Freezing a frozen card changes nothing."""
        ...

    async def unfreeze_card(self, customer: str, card_id: str, request_id: str) -> Card:
        """Unblock a frozen card; a lost card cannot be unfrozen ("not_allowed")."""
        ...

    async def report_lost_card(
        self, customer: str, card_id: str, request_id: str
    ) -> ReplacementOrder:
        """Block the card for good (status "lost") and order a replacement."""
        ...

    async def set_card_limit(
        self, customer: str, card_id: str, new_limit: Decimal, request_id: str
    ) -> Card:
        """Set the card's daily limit, in the card's currency."""
        ...


@dataclass(frozen=True, slots=True)
class _Customer:
    accounts: tuple[Account, ...]
    cards: tuple[Card, ...]
    transfers: tuple[Transfer, ...]


# The daily limits a demo card accepts, by kind, in the card's currency.
_LIMIT_RANGES: Mapping[CardKind, tuple[Decimal, Decimal]] = MappingProxyType(
    {"debit": (Decimal(100), Decimal(5000)), "credit": (Decimal(100), Decimal(10000))}
)
_DELIVERY_WORKING_DAYS = 5


def _real_clock() -> datetime:
    return datetime.now(UTC)


class DemoBank:
    """An in-memory `CoreBanking` with a few demo customers: alice, bob, carol and chen.

    Deterministic: transfer dates and delivery estimates follow `clock`, replacement
    order ids follow `seed`. `simulate_outage` makes operations fail as "unavailable",
    to exercise the escalation paths.
    """

    def __init__(self, *, clock: Callable[[], datetime] = _real_clock, seed: int = 0) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._customers = _demo_customers(clock().date())
        self._orders: dict[str, list[ReplacementOrder]] = {}
        # (customer, operation, request_id) -> the first successful result. Failures are
        # not remembered: they changed nothing, so a retry may as well be tried afresh.
        self._done: dict[tuple[str, str, str], tuple[tuple[object, ...], object]] = {}
        self._outage: set[str] = set()

    # -- demo controls (not part of the port) --------------------------------------------

    def simulate_outage(self, *operations: str) -> None:
        """Make the named operations (all of them if none named) raise "unavailable"."""
        self._outage.update(operations or ("*",))

    def end_outage(self) -> None:
        self._outage.clear()

    def replacement_orders(self, customer: str) -> tuple[ReplacementOrder, ...]:
        return tuple(self._orders.get(customer, ()))

    # -- reads ---------------------------------------------------------------------------

    async def list_accounts(self, customer: str) -> Sequence[Account]:
        self._check_available("list_accounts")
        return self._customer(customer).accounts

    async def list_cards(self, customer: str) -> Sequence[Card]:
        self._check_available("list_cards")
        return self._customer(customer).cards

    async def list_transfers(self, customer: str) -> Sequence[Transfer]:
        self._check_available("list_transfers")
        return tuple(sorted(self._customer(customer).transfers, key=lambda t: t.created)[::-1])

    async def balance(self, customer: str, account_id: str) -> Money:
        self._check_available("balance")
        for account in self._customer(customer).accounts:
            if account.id == account_id:
                return Money(account.balance, account.currency)
        raise CoreBankingError("not_found", f"no account {account_id!r}")

    async def transfer_status(self, customer: str, reference: str) -> Transfer:
        self._check_available("transfer_status")
        wanted = reference.strip().upper()
        for transfer in self._customer(customer).transfers:
            if transfer.reference == wanted:
                return transfer
        raise CoreBankingError("not_found", f"no transfer {reference!r}")

    # -- mutations -----------------------------------------------------------------------

    async def freeze_card(self, customer: str, card_id: str, request_id: str) -> Card:
        def freeze() -> Card:
            card = self._card(customer, card_id)
            if card.status == "lost":
                raise CoreBankingError("not_allowed", "the card was reported lost")
            return self._put_card(customer, replace(card, status="frozen"))

        return self._once(customer, "freeze_card", (request_id, card_id), freeze)

    async def unfreeze_card(self, customer: str, card_id: str, request_id: str) -> Card:
        def unfreeze() -> Card:
            card = self._card(customer, card_id)
            if card.status == "lost":
                raise CoreBankingError("not_allowed", "a card reported lost cannot be unfrozen")
            return self._put_card(customer, replace(card, status="active"))

        return self._once(customer, "unfreeze_card", (request_id, card_id), unfreeze)

    async def report_lost_card(
        self, customer: str, card_id: str, request_id: str
    ) -> ReplacementOrder:
        def report() -> ReplacementOrder:
            card = self._card(customer, card_id)
            if card.status == "lost":
                raise CoreBankingError("not_allowed", "the card was already reported lost")
            self._put_card(customer, replace(card, status="lost"))
            order = ReplacementOrder(
                order_id=f"RO-{self._random.randrange(100000, 1000000)}",
                card_id=card_id,
                delivery_estimate=_add_working_days(self._clock().date(), _DELIVERY_WORKING_DAYS),
            )
            self._orders.setdefault(customer, []).append(order)
            return order

        return self._once(customer, "report_lost_card", (request_id, card_id), report)

    async def set_card_limit(
        self, customer: str, card_id: str, new_limit: Decimal, request_id: str
    ) -> Card:
        def set_limit() -> Card:
            card = self._card(customer, card_id)
            if card.status == "lost":
                raise CoreBankingError("not_allowed", "the card was reported lost")
            low, high = _LIMIT_RANGES[card.kind]
            if not low <= new_limit <= high:
                raise CoreBankingError(
                    "limit_out_of_range",
                    f"The daily limit of this card must be between {low:,.2f} and "
                    f"{high:,.2f} {card.currency}.",
                )
            return self._put_card(customer, replace(card, daily_limit=new_limit))

        return self._once(customer, "set_card_limit", (request_id, card_id, new_limit), set_limit)

    # -- internals -----------------------------------------------------------------------

    def _once(
        self, customer: str, operation: str, request: tuple[object, ...], run: Callable[[], _T]
    ) -> _T:
        """Run a mutation once per (customer, operation, request id): `request` is the
        request id followed by the call's arguments."""
        key = (customer, operation, str(request[0]))
        if key in self._done:
            seen, result = self._done[key]
            if seen != request:
                # A caller bug: answering with the other call's result would be a lie.
                raise CoreBankingError("not_allowed", "request id reused with other arguments")
            # One operation always stores one result type, so the key fixes the type.
            return cast(_T, result)
        self._check_available(operation)
        result = run()
        self._done[key] = (request, result)
        return result

    def _check_available(self, operation: str) -> None:
        if operation in self._outage or "*" in self._outage:
            raise CoreBankingError("unavailable", "the core banking system is not responding")

    def _customer(self, customer: str) -> _Customer:
        found = self._customers.get(customer)
        if found is None:
            raise CoreBankingError("not_found", f"no customer {customer!r}")
        return found

    def _card(self, customer: str, card_id: str) -> Card:
        for card in self._customer(customer).cards:
            if card.id == card_id:
                return card
        raise CoreBankingError("not_found", f"no card {card_id!r}")

    def _put_card(self, customer: str, card: Card) -> Card:
        held = self._customer(customer)
        cards = tuple(card if c.id == card.id else c for c in held.cards)
        self._customers[customer] = replace(held, cards=cards)
        return card


def _add_working_days(start: date, days: int) -> date:
    day = start
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


def _demo_customers(today: date) -> dict[str, _Customer]:
    def ago(days: int) -> date:
        return today - timedelta(days=days)

    eur, gbp, usd = "EUR", "GBP", "USD"
    mastercard = "Mastercard"
    return {
        "alice": _Customer(
            accounts=(
                Account("acc-alice-current", "current", eur, Decimal("2450.75")),
                Account("acc-alice-savings", "savings", eur, Decimal("10200.00")),
            ),
            cards=(
                Card("card-alice-debit", "1234", "debit", "Visa", "active", Decimal(2000), eur),
                Card(
                    "card-alice-credit", "5678", "credit", mastercard, "active", Decimal(3000), eur
                ),
            ),
            transfers=(
                Transfer("TR-1001", Decimal("250.00"), eur, "pending", ago(1), "Jane Doe"),
                Transfer("TR-1002", Decimal("1200.00"), eur, "completed", ago(10), "Rue Lofts"),
                Transfer("TR-1003", Decimal("75.50"), eur, "failed", ago(3), "Tom Becker"),
            ),
        ),
        "bob": _Customer(
            accounts=(Account("acc-bob-current", "current", gbp, Decimal("830.20")),),
            cards=(Card("card-bob-debit", "4321", "debit", "Visa", "active", Decimal(1000), gbp),),
            transfers=(
                Transfer("TR-2001", Decimal("500.00"), gbp, "completed", ago(2), "Sam Patel"),
            ),
        ),
        "carol": _Customer(
            accounts=(
                Account("acc-carol-current", "current", usd, Decimal("5120.00")),
                Account("acc-carol-savings", "savings", usd, Decimal("42.10")),
            ),
            cards=(
                Card("card-carol-debit", "9012", "debit", "Visa", "frozen", Decimal(1500), usd),
                Card(
                    "card-carol-credit", "3456", "credit", mastercard, "active", Decimal(4000), usd
                ),
            ),
            transfers=(
                Transfer("TR-3001", Decimal("2000.00"), usd, "pending", ago(0), "Lee & Co"),
                Transfer("TR-3002", Decimal("40.00"), usd, "failed", ago(6), "Ana Ruiz"),
            ),
        ),
        # Chen reported a card lost last month; the replacement is the active one.
        "chen": _Customer(
            accounts=(Account("acc-chen-current", "current", eur, Decimal("615.00")),),
            cards=(
                Card("card-chen-old", "2468", "debit", "Visa", "lost", Decimal(1500), eur),
                Card("card-chen-debit", "1357", "debit", "Visa", "active", Decimal(1500), eur),
            ),
            transfers=(),
        ),
    }
