"""Which card or account the customer means: "card ending 1234", "my savings account"."""

from __future__ import annotations

import re
from collections.abc import Iterator

from handoff.understanding.slots.candidate import Candidate, Context
from handoff.understanding.slots.values import AccountReference, CardReference

__all__ = ["find_references"]

_I = re.IGNORECASE
_CARD_PRODUCTS = (
    r"credit|debit|virtual|physical|disposable|contactless|prepaid|business|visa|"
    r"master\s?card|amex|american\s+express|travel|international|new|old|replacement|"
    r"metal|plastic|joint|student|premium"
)
_ACCOUNT_PRODUCTS = (
    r"savings?|current|checking|cheque|chequing|business|joint|student|isa|premium|"
    r"investment|express\s+savings|(?:euro|dollar|pound|usd|eur|gbp)"
)
_ENDING = (
    r"(?:\s*,?\s*(?:(?:that|which)\s+)?(?:ending|ends|finishing|finishes)\s+(?:in\s+|with\s+)?"
    r"|\s+(?:number\s+)?(?:with\s+)?(?:the\s+)?last\s+(?:four|4)\s+(?:digits\s+)?(?:of\s+)?"
    r"(?:are\s+|is\s+)?)(?P<last4>\d{4})\b"
)
_CARD = re.compile(
    rf"\b(?P<core>(?:(?P<product>{_CARD_PRODUCTS})\s+)?card(?:\s+number)?(?:{_ENDING})?)",
    _I,
)
_ACCOUNT = re.compile(
    rf"\b(?P<core>(?:(?P<product>{_ACCOUNT_PRODUCTS})\s+)?account(?:\s+number)?(?:{_ENDING})?)",
    _I,
)


def _product(raw: str | None) -> str | None:
    if not raw:
        return None
    product = re.sub(r"\s+", " ", raw.casefold())
    return {"saving": "savings", "master card": "mastercard", "cheque": "current"}.get(
        product, product
    )


def find_references(text: str, context: Context) -> Iterator[Candidate]:
    del context
    for name, pattern, make in (
        ("card", _CARD, CardReference),
        ("account", _ACCOUNT, AccountReference),
    ):
        for match in pattern.finditer(text):
            product = _product(match.group("product"))
            last4 = match.group("last4")
            # "my card" alone picks out nothing; a product or the last digits does.
            if product is None and last4 is None:
                continue
            start, end = match.span("core")
            yield Candidate(name, start, end, make(product, last4), 2)
