"""Words for numbers, months, weekdays and parts of the day, shared by the recognisers."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "MONTHS",
    "MONTH_PATTERN",
    "NUMBER_PATTERN",
    "NUMBER_WORDS",
    "ORDINAL_WORDS",
    "WEEKDAYS",
    "WEEKDAY_PATTERN",
    "parse_number",
]

NUMBER_WORDS: Mapping[str, int] = MappingProxyType(
    {
        "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
        "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
        "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
        "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
        "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
        "hundred": 100, "couple": 2, "few": 3,
    }
)  # fmt: skip

ORDINAL_WORDS: Mapping[str, int] = MappingProxyType(
    {
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
        "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11,
        "twelfth": 12, "thirteenth": 13, "fourteenth": 14, "fifteenth": 15,
        "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19,
        "twentieth": 20, "thirtieth": 30, "last": -1,
    }
)  # fmt: skip

MONTHS: Mapping[str, int] = MappingProxyType(
    {
        "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
        "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
        "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9, "october": 10,
        "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
    }
)  # fmt: skip

WEEKDAYS: Mapping[str, int] = MappingProxyType(
    {
        "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4,
        "saturday": 5, "sunday": 6,
    }
)  # fmt: skip

# Longest names first so "september" is not read as "sep" + "tember".
MONTH_PATTERN = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + ")"
WEEKDAY_PATTERN = "(?:" + "|".join(WEEKDAYS) + ")"
_WORD_NUMBERS = "|".join(sorted((w for w in NUMBER_WORDS if len(w) > 2), key=len, reverse=True))
# A figure ("1,200.50", "1200", "3.4") or a number word ("two", "a"), as one group.
NUMBER_PATTERN = rf"(?:\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+(?:\.\d+)?|{_WORD_NUMBERS}|an?)"

_SCALE = re.compile(r"^(.*?)\s*(thousand|k|million|m|hundred)?$")


def parse_number(text: str) -> float | None:
    """The value of a NUMBER_PATTERN match, optionally scaled ("1 thousand", "2k")."""
    head, scale = _SCALE.match(text.strip().casefold()).groups()  # type: ignore[union-attr]
    head = head.replace(",", "").strip()
    if not head:
        value = 1.0
    elif head in NUMBER_WORDS:
        value = float(NUMBER_WORDS[head])
    else:
        try:
            value = float(head)
        except ValueError:
            return None
    factor = {"thousand": 1e3, "k": 1e3, "million": 1e6, "m": 1e6, "hundred": 1e2}
    return value * factor.get(scale or "", 1.0)
