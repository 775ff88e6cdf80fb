"""Card and identity numbers kept out of tickets, call transcripts and anything sent to
an LLM.

A card number (13 to 19 digits, grouped or not) keeps its last four digits, which is
what an agent needs to find the card and what PCI DSS allows to show; any other long
number (account, IBAN, phone, national ID) is hidden whole.
"""

from __future__ import annotations

import re

__all__ = ["has_long_number", "mask"]

# Digit groups joined by spaces, line breaks, dashes, dots, slashes or underscores:
# "4111 1111-1111 1111", "4111.1111.1111.1111", "020 7946 0958". Digits touching letters
# count too ("card4111111111111111"): customers type numbers any way they like.
_NUMBER = re.compile(r"(?<!\d)\d+(?:[\s\-./_]{1,3}\d+)*(?!\d)")
# An IBAN: country, check digits, then up to 30 letters and digits, grouped or not, in
# any case.
_IBAN = re.compile(
    r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b", re.IGNORECASE
)
_CARD_DIGITS = range(13, 20)
# Separated groups are masked from 10 digits on, so that a date such as 2024-05-01 (8)
# or an amount such as 1 250 000 (7) survives while a phone number does not.
_RUN_DIGITS = 8
_GROUPED_DIGITS = 10
_LAST = 4


def mask(text: str) -> str:
    """`text` with card numbers shown as "[card ending 1234]" and other IDs as "[number]"."""
    return _NUMBER.sub(_mask_number, _IBAN.sub("[account number]", text))


def has_long_number(text: str) -> bool:
    """Whether `text` holds more than four digits in a row (a full card or account number)."""
    return re.search(r"\d{5,}", re.sub(r"(?<=\d)[\s\-./_]{1,3}(?=\d)", "", text)) is not None


def _mask_number(match: re.Match[str]) -> str:
    found = match.group()
    digits = re.sub(r"\D", "", found)
    if len(digits) in _CARD_DIGITS:
        return f"[card ending {digits[-_LAST:]}]"
    grouped = len(digits) != len(found)
    if len(digits) >= (_GROUPED_DIGITS if grouped else _RUN_DIGITS):
        return "[number]"
    return found
