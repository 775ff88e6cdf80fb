"""Amounts of money: "£27", "40€", "56.79 pounds", "a thousand dollars", "more than 400"."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from handoff.understanding.slots.candidate import Candidate, Context
from handoff.understanding.slots.lexicon import NUMBER_PATTERN, parse_number
from handoff.understanding.slots.values import Money

__all__ = ["find_money"]

_SYMBOLS: Mapping[str, str] = MappingProxyType({"£": "GBP", "$": "USD", "€": "EUR", "¥": "JPY"})
_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "pound": "GBP", "pounds": "GBP", "quid": "GBP", "gbp": "GBP", "sterling": "GBP",
        "dollar": "USD", "dollars": "USD", "bucks": "USD", "usd": "USD",
        "euro": "EUR", "euros": "EUR", "eur": "EUR",
        "yen": "JPY", "jpy": "JPY", "franc": "CHF", "francs": "CHF", "chf": "CHF",
        "zloty": "PLN", "pln": "PLN", "rupees": "INR", "inr": "INR",
    }
)  # fmt: skip
_NAME_PATTERN = "|".join(sorted(_NAMES, key=len, reverse=True))
_FIGURE = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_SCALE = r"(?:\s?(?:k|thousand|million)\b|\s(?:hundred|thousand|million)\b)"

_SYMBOL_FIRST = re.compile(rf"(?P<sym>[£$€¥])\s?(?P<num>(?:{_FIGURE}){_SCALE}?)", re.IGNORECASE)
_SYMBOL_AFTER = re.compile(rf"\b(?P<num>(?:{_FIGURE}){_SCALE}?)\s?(?P<sym>[£$€¥])", re.IGNORECASE)
_NAMED = re.compile(
    rf"\b(?P<num>{NUMBER_PATTERN}(?:\s(?:hundred|thousand|million)|k)?)\s?"
    rf"(?P<cur>{_NAME_PATTERN})\b",
    re.IGNORECASE,
)
_CODE_FIRST = re.compile(
    rf"\b(?P<cur>gbp|usd|eur|chf|jpy|pln)\s?(?P<num>(?:{_FIGURE}){_SCALE}?)\b", re.IGNORECASE
)

# A bare number is money only in a sentence about money. The cue must sit right before
# it ("spent 158.16", "more than 400", "a 800 transfer") and no unit may follow it.
_BARE = re.compile(rf"(?<![\w.,:/])(?P<num>{_FIGURE})(?![\w:/]|[.,]\d)", re.IGNORECASE)
_CUE_BEFORE = re.compile(
    r"(?:\b(?:spen[dt]|spending|pa(?:y|id)|paying|charged?|costs?|transfer(?:red)?|"
    r"send|sent|withdraw|withdrew|refund(?:ed)?|owe|deposit(?:ed)?|top(?:ped)? up|"
    r"more than|less than|higher than|lower than|over|under|at least|at most|up to|"
    r"limit (?:of|to|is)|amount of|balance of|(?:a|the|that|of)))\s+$",
    re.IGNORECASE,
)
_MONEY_NOUN_AFTER = re.compile(
    r"^\s+(?:transfers?|payments?|purchases?|withdrawals?|refunds?|fees?|transactions?|"
    r"deposits?|top[- ]?ups?|charges?|at|in|on|for|to|from)\b",
    re.IGNORECASE,
)
_UNIT_AFTER = re.compile(
    r"^\s*(?:%|percent|times?|days?|weeks?|months?|years?|hours?|hrs?|minutes?|mins?|"
    r"seconds?|o'?clock|[ap]\.?m\b|st\b|nd\b|rd\b|th\b|ish\b|digits?|pins?|cards?|"
    r"accounts?|people|persons?|transactions|in the|morning|afternoon|evening|night|"
    r"past|to \d)",
    re.IGNORECASE,
)


def _money(text: str, currency: str | None) -> Money | None:
    value = parse_number(text)
    if value is None or value <= 0:
        return None
    try:
        # Via str of a rounded float: "56.79" stays 56.79, never 56.789999...
        amount = Decimal(str(round(value, 2))).normalize()
    except InvalidOperation:
        return None
    if amount == amount.to_integral_value():
        amount = amount.quantize(Decimal(1))
    return Money(amount, currency)


def find_money(text: str, context: Context) -> Iterator[Candidate]:
    del context  # amounts are never relative
    taken: list[tuple[int, int]] = []
    for pattern, priority in (
        (_SYMBOL_FIRST, 3),
        (_SYMBOL_AFTER, 3),
        (_NAMED, 2),
        (_CODE_FIRST, 2),
    ):
        for match in pattern.finditer(text):
            raw = match.group("num")
            if raw.casefold() in {"a", "an"}:
                continue  # "a pound coin" names no amount
            if "sym" in match.groupdict() and match.group("sym"):
                currency = _SYMBOLS[match.group("sym")]
            else:
                currency = _NAMES[match.group("cur").casefold()]
            money = _money(raw, currency)
            if money is not None:
                taken.append(match.span())
                yield Candidate("amount_of_money", match.start(), match.end(), money, priority)
    for match in _BARE.finditer(text):
        start, end = match.span()
        if any(a < end and start < b for a, b in taken):
            continue
        raw = match.group("num")
        # Bounded look-around: a cue is a few words away, and long texts stay linear.
        before, after = text[max(0, start - 40) : start], text[end : end + 40]
        if _UNIT_AFTER.match(after):
            continue
        decimal_cents = re.fullmatch(r"\d+\.\d\d", raw) is not None
        cued = _CUE_BEFORE.search(before) is not None
        # "a 800 transfer": an article before and a money noun after.
        noun = _MONEY_NOUN_AFTER.match(after) is not None and before.rstrip().endswith(
            (" a", " the", " that", " of")
        )
        if not (decimal_cents or (cued and (len(raw) >= 2 or noun))):
            continue
        if re.fullmatch(r"(?:19|20)\d\d", raw) and not decimal_cents:
            continue  # a year, not an amount
        money = _money(raw, None)
        if money is not None:
            yield Candidate("amount_of_money", start, end, money, 1)
