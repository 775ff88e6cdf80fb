"""Times of day and time periods: "2:35 p.m.", "25 to 7", "half past 17", "next 3 hours"."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import datetime, time, timedelta

from handoff.understanding.slots.candidate import Candidate, Context
from handoff.understanding.slots.lexicon import NUMBER_PATTERN, parse_number
from handoff.understanding.slots.values import TimePeriod

__all__ = ["find_times"]

_I = re.IGNORECASE
_MERIDIEM = r"(?P<mer>a\.?\s?m\b\.?|p\.?\s?m\b\.?)"
_PART = r"(?P<pod>(?:in\s+the\s+)?(?:morning|afternoon|evening|night))"
_TAIL = rf"(?:\s*{_MERIDIEM})?(?:\s+{_PART})?"
# Words after a number that make it anything but a time.
_NOT_TIME = (
    r"(?!\s*(?:%|percent|days?|weeks?|months?|years?|hours?|minutes?|mins?|times?|"
    r"pounds?|dollars?|euros?|quid|bucks|[£$€]|st\b|nd\b|rd\b|th\b|people|cards?|"
    r"accounts?|transactions?|digits?|pins?))"
)

Resolver = Callable[[re.Match[str], Context], tuple[str, object] | None]


def _clock(hour: int, minute: int, match: re.Match[str]) -> time | None:
    meridiem = (match.groupdict().get("mer") or "").casefold().replace(".", "").replace(" ", "")
    part = (match.groupdict().get("pod") or "").casefold().split()[-1:]
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    elif not meridiem and part:
        if part[0] in ("afternoon", "evening") and hour < 12:
            hour += 12
        elif part[0] == "night" and 6 <= hour < 12:
            hour += 12  # "10 past 9 night" is 21:10, "3 night" stays 03:00
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    return time(hour, minute)


def _hour_minute(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    clock = _clock(int(match.group("h")), int(match.group("mi")), match)
    return ("time", clock) if clock else None


def _hour(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    clock = _clock(int(match.group("h")), 0, match)
    return ("time", clock) if clock else None


def _past_to(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    if match.group("half"):
        minutes = 30
    elif match.group("quarter"):
        minutes = 15
    else:
        minutes = int(match.group("n"))
    if not 0 < minutes < 60:
        return None
    hour = int(match.group("h"))
    if match.group("rel").casefold() == "to":
        # Resolve meridiem on the named hour first: "25 to 7 p.m." is 18:35.
        named = _clock(hour, 0, match)
        if named is None:
            return None
        moment = datetime.combine(datetime.min, named) - timedelta(minutes=minutes)
        return ("time", moment.time()) if moment.day == datetime.min.day else None
    clock = _clock(hour, minutes, match)
    return ("time", clock) if clock else None


def _named(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    word = match.group(0).casefold()
    return ("time", time(0, 0) if "midnight" in word else time(12, 0))


def _minutes(count_text: str | None, unit: str, *, half: bool = False) -> int | None:
    """Minutes in "3 hours", "half an hour", "next hour and a half" (no number means one)."""
    raw = (count_text or "1").casefold()
    count = 0.5 if raw.startswith("half") else parse_number(re.sub(r"\s+of$", "", raw))
    if count is None:
        return None
    total = count * (60 if unit.casefold().startswith("h") else 1) + (30 if half else 0)
    return int(total)


def _clock_relative(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    ago = match.group("n2") is not None
    count, unit = (match.group("n2"), match.group("u2")) if ago else match.group("n", "u")
    minutes = _minutes(count, unit)
    if minutes is None or context.now is None:
        return None
    moment = context.now + timedelta(minutes=-minutes if ago else minutes)
    return ("time", moment.time().replace(second=0, microsecond=0))


def _last_next(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    minutes = _minutes(match.group("n"), match.group("u"), half=bool(match.group("half")))
    if minutes is None:
        return None
    if context.now is None:
        return ("time_period", TimePeriod("relative", minutes=minutes))
    now = context.now.replace(second=0, microsecond=0)
    if match.group("dir").casefold() == "next":
        start, end = now, now + timedelta(minutes=minutes)
    else:
        start, end = now - timedelta(minutes=minutes), now
    return ("time_period", TimePeriod("absolute", start.time(), end.time(), minutes))


def _length(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    minutes = _minutes(match.group("n"), match.group("u"), half=bool(match.group("half")))
    return ("time_period", TimePeriod("relative", minutes=minutes)) if minutes else None


_PART_RANGES = {
    "morning": (time(0, 0), time(12, 0)),
    "afternoon": (time(12, 0), time(19, 0)),
    "evening": (time(18, 0), time(0, 0)),
    "night": (time(22, 0), time(6, 0)),
}


def _part_of_day(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    start, end = _PART_RANGES[match.group("part").casefold()]
    return ("time_period", TimePeriod("absolute", start, end))


_H = r"(?P<h>[01]?\d|2[0-4])"
_CUE = r"\b(?:at|after|before|around|by|until|till|from|between|and|to|(?:earlier|later)\s+than)\s"
_PATTERNS: tuple[tuple[re.Pattern[str], Resolver, int], ...] = (
    (re.compile(rf"(?<![\d.:]){_H}:(?P<mi>[0-5]\d)(?![\d:]){_TAIL}", _I), _hour_minute, 4),
    # "9 05 in the morning", "at 13 50": a space between hour and minutes needs a
    # meridiem, a part of the day, or a cue word before it to be read as a time.
    (
        re.compile(rf"(?<![\d.:,]){_H}\s(?P<mi>[0-5]\d)(?![\d.,:]){_TAIL}{_NOT_TIME}", _I),
        _hour_minute,
        3,
    ),
    (
        re.compile(
            r"\b(?:(?P<half>half)|(?P<quarter>quarter)|(?P<n>[0-5]?\d))\s+(?P<rel>past|to)\s+"
            rf"{_H}(?![\d:]){_TAIL}{_NOT_TIME}",
            _I,
        ),
        _past_to,
        5,
    ),
    (re.compile(rf"(?<![\d.:]){_H}\s?{_MERIDIEM}(?:\s+{_PART})?", _I), _hour, 3),
    (re.compile(rf"\b{_H}\s?(?:o'?clock|ish)(?:\s+{_PART})?", _I), _hour, 3),
    (
        re.compile(rf"{_CUE}(?P<core>{_H}(?:\s+{_PART})?)(?![\w:.,/£$€]){_NOT_TIME}", _I),
        _hour,
        1,
    ),
    (re.compile(r"\b(?:midday|noon|midnight)\b", _I), _named, 3),
    (
        re.compile(
            rf"\bin\s+(?P<n>{NUMBER_PATTERN}|half\s+an?)\s+(?P<u>hours?|minutes?|mins?)\b"
            rf"|\b(?P<n2>{NUMBER_PATTERN})\s+(?P<u2>hours?|minutes?|mins?)\s+ago\b",
            _I,
        ),
        _clock_relative,
        3,
    ),
    (
        re.compile(
            rf"\b(?P<dir>last|past|next)\s+(?P<n>{NUMBER_PATTERN}|couple\s+of)?\s*"
            r"(?P<u>hours?|minutes?|mins?)(?P<half>\s+and\s+a\s+half)?\b",
            _I,
        ),
        _last_next,
        3,
    ),
    (
        re.compile(
            rf"(?<!\bin\s)(?<!\blast\s)(?<!\bnext\s)(?<!\bpast\s)\b(?P<n>{NUMBER_PATTERN}|half\s+an?)"
            r"\s+(?P<u>hours?|minutes?|mins?)(?P<half>\s+and\s+a\s+half)?(?!\s+ago)\b",
            _I,
        ),
        _length,
        1,
    ),
    (
        re.compile(
            r"\b(?:this|yesterday|tomorrow|today)\s(?P<core>(?P<part>morning|afternoon|evening))\b",
            _I,
        ),
        _part_of_day,
        2,
    ),
)


def find_times(text: str, context: Context) -> Iterator[Candidate]:
    for pattern, resolve, priority in _PATTERNS:
        for match in pattern.finditer(text):
            resolved = resolve(match, context)
            if resolved is None:
                continue
            name, value = resolved
            assert isinstance(value, (time, TimePeriod))
            # A "core" group marks the slot inside a match that needed a cue word before it.
            start, end = match.span("core") if "core" in match.groupdict() else match.span()
            yield Candidate(name, start, end, value, priority)
