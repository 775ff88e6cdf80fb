"""Slot hints from one utterance: the understanding's slots first, then the text itself.

The text is read so that short answers work whatever the classifier makes of them: "1234"
or "ending 1234" (a card), "credit" (a card), "TR-1001" (a transfer), "€2,500" or "3k"
(an amount). Bare numbers count only as the answer to the question asked (`expecting`):
"1234" is a card when asked which card, an amount when asked how much.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from handoff.selfservice.corebanking import CardKind

__all__ = ["AmountHint", "CardHint", "Hints", "parse_amount_value", "read_hints"]


@dataclass(frozen=True, slots=True)
class CardHint:
    """Whatever the customer said about a card; every field narrows the choice."""

    last4: str | None = None
    kind: CardKind | None = None
    network: str | None = None  # lower case: "visa", "mastercard"

    @property
    def empty(self) -> bool:
        return self.last4 is None and self.kind is None and self.network is None


@dataclass(frozen=True, slots=True)
class AmountHint:
    value: Decimal
    currency: str | None  # ISO code; None: the customer did not say


@dataclass(frozen=True, slots=True)
class Hints:
    card: CardHint
    account_name: str | None
    transfer_ref: str | None
    amount: AmountHint | None
    # The message itself, for matching names only the customer's data knows (accounts).
    text: str


_LAST4_SAID = re.compile(
    r"\b(?:ending|ends?|last (?:4|four)(?: digits)?|card(?: number)?|number)"
    r"(?: in| with| are| is)?\W{0,3}(\d{4})\b"
)
_FOUR_DIGITS = re.compile(r"(?<![\d.,])\b(\d{4})\b(?![.,]?\d)")
_TRANSFER_REF = re.compile(r"\btr\s?[-#]?\s?(\d{3,})\b")
_BARE_REF = re.compile(r"(?<![\d.,])\b(\d{3,})\b(?![.,]?\d)")
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_AMOUNT = re.compile(
    r"(?P<pre>[€$£]|\b(?:eur|usd|gbp)\b)?\s?"
    rf"(?<![\w.,])(?P<num>{_NUMBER})(?![\w.,]*\d)"
    r"(?P<k>k\b)?\s?(?P<post>euros?\b|eur\b|usd\b|dollars?\b|gbp\b|pounds?\b|[€$£])?"
)
# A number right after one of these is an amount even when none was asked for:
# "raise my limit to 3000".
_AMOUNT_LEAD = re.compile(r"\b(?:to|of|at|be|it|limit)\s*$")
_CURRENCIES: Mapping[str, str] = MappingProxyType(
    {
        "€": "EUR",
        "eur": "EUR",
        "euro": "EUR",
        "euros": "EUR",
        "$": "USD",
        "usd": "USD",
        "dollar": "USD",
        "dollars": "USD",
        "£": "GBP",
        "gbp": "GBP",
        "pound": "GBP",
        "pounds": "GBP",
    }
)
_ISO_CODE = re.compile(r"^[A-Z]{3}$")


def read_hints(slots: Mapping[str, Any], text: str, expecting: str | None = None) -> Hints:
    """Hints from the understanding's `slots` (see `model`), completed from `text`."""
    flat = text.lower().replace("\u2019", "'")
    said_card = _card_from_slots(slots.get("card"))
    text_card = _card_from_text(flat, expecting == "card")
    card = CardHint(
        last4=said_card.last4 or text_card.last4,
        kind=said_card.kind or text_card.kind,
        network=said_card.network or text_card.network,
    )
    account = slots.get("account")
    account_name = account.get("name") if isinstance(account, Mapping) else None
    ref = slots.get("transfer_ref")
    transfer_ref = _normal_ref(ref) if isinstance(ref, str) and ref.strip() else None
    if transfer_ref is None:
        transfer_ref = _ref_from_text(flat, expecting == "transfer_ref")
    amount = _amount_from_slots(slots.get("amount"))
    if amount is None:
        amount = _amount_from_text(flat, expecting == "amount")
    return Hints(
        card=card,
        account_name=account_name.strip() if isinstance(account_name, str) else None,
        transfer_ref=transfer_ref,
        amount=amount,
        text=text,
    )


def parse_amount_value(raw: object) -> Decimal | None:
    """A positive-or-zero finite Decimal from a Decimal, int or numeric string."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        value = raw
    elif isinstance(raw, int | float):
        value = Decimal(str(raw))
    elif isinstance(raw, str):
        try:
            value = Decimal(raw.replace(",", "").strip())
        except InvalidOperation:
            return None
    else:
        return None
    return value if value.is_finite() and value >= 0 else None


def _card_from_slots(raw: object) -> CardHint:
    if not isinstance(raw, Mapping):
        return CardHint()
    last4 = raw.get("last4")
    kind = raw.get("kind")
    network = raw.get("network")
    return CardHint(
        last4=last4 if isinstance(last4, str) and re.fullmatch(r"\d{4}", last4) else None,
        kind=kind if kind in ("debit", "credit") else None,
        network=network.lower() if isinstance(network, str) and network else None,
    )


def _card_from_text(flat: str, expecting: bool) -> CardHint:
    said = _LAST4_SAID.search(flat)
    bare = _FOUR_DIGITS.search(flat) if expecting else None
    last4 = said.group(1) if said else bare.group(1) if bare else None
    credit = re.search(r"\bcredit\b", flat) is not None
    # "direct debit" is a payment type, not a card.
    debit = re.search(r"(?<!direct )\bdebit\b", flat) is not None
    kind: CardKind | None = None
    if credit != debit:
        kind = "credit" if credit else "debit"
    network = None
    if re.search(r"\bvisa\b", flat):
        network = "visa"
    elif re.search(r"\bmaster ?card\b", flat):
        network = "mastercard"
    return CardHint(last4=last4, kind=kind, network=network)


def _normal_ref(ref: str) -> str:
    digits = re.sub(r"\D", "", ref)
    return f"TR-{digits}" if digits and ref.strip().lower().startswith("tr") else ref.strip()


def _ref_from_text(flat: str, expecting: bool) -> str | None:
    if found := _TRANSFER_REF.search(flat):
        return f"TR-{found.group(1)}"
    if expecting and (bare := _BARE_REF.search(flat)):
        return f"TR-{bare.group(1)}"
    return None


def _amount_from_slots(raw: object) -> AmountHint | None:
    if not isinstance(raw, Mapping):
        return None
    value = parse_amount_value(raw.get("value"))
    if value is None:
        return None
    currency = raw.get("currency")
    if isinstance(currency, str) and _ISO_CODE.match(currency.strip().upper()):
        return AmountHint(value, currency.strip().upper())
    return AmountHint(value, None)


def _amount_from_text(flat: str, expecting: bool) -> AmountHint | None:
    taken = [m.span(1) for m in _LAST4_SAID.finditer(flat)]
    taken += [m.span(1) for m in _TRANSFER_REF.finditer(flat)]
    for match in _AMOUNT.finditer(flat):
        start, end = match.span("num")
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        symbol = match.group("pre") or match.group("post")
        if not (symbol or expecting or _AMOUNT_LEAD.search(flat[: match.start()])):
            continue
        value = parse_amount_value(match.group("num"))
        if value is None:
            continue
        if match.group("k"):
            value *= 1000
        return AmountHint(value, _CURRENCIES.get(symbol.strip()) if symbol else None)
    return None
