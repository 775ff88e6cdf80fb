"""How cards, accounts, transfers and money are named to the customer.

A card's label is also the suggestion offered when asking "which card?": clicking it
sends the label back, and "ending 1234" in it is what `slots` reads the choice from.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from handoff.selfservice.corebanking import Account, Card, Transfer

__all__ = ["account_label", "card_label", "day", "money", "or_list", "transfer_label"]


def money(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def day(when: date) -> str:
    return f"{when.day} {when:%B %Y}"


def card_label(card: Card) -> str:
    return f"{card.network} {card.kind} ending {card.last4}"


def account_label(account: Account) -> str:
    return f"{account.name.capitalize()} account ({account.currency})"


def transfer_label(transfer: Transfer) -> str:
    amount = money(transfer.amount, transfer.currency)
    return f"{transfer.reference}: {amount} to {transfer.recipient}"


def or_list(items: list[str] | tuple[str, ...]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} or {items[-1]}"
