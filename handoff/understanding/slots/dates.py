"""Dates and date periods: "tomorrow", "last Thursday", "Jan the 19th", "last month", ...

Each recogniser yields a `date` (slot "date") or a `DatePeriod` (slot "date_period");
whether a date starts or ends a range ("from ... to ...") is decided afterwards, from
the words around it, in `roles`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from handoff.understanding.slots.calendar import (
    add_months,
    month_end,
    month_start,
    next_day_of_month,
    resolve_month_day,
    resolve_weekday,
    week_start,
)
from handoff.understanding.slots.candidate import Candidate, Context
from handoff.understanding.slots.lexicon import (
    MONTH_PATTERN,
    MONTHS,
    NUMBER_PATTERN,
    ORDINAL_WORDS,
    WEEKDAY_PATTERN,
    WEEKDAYS,
    parse_number,
)
from handoff.understanding.slots.values import DatePeriod

__all__ = ["find_dates"]

_I = re.IGNORECASE
_ORD = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)"
_DAY = r"(?P<d>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<y>(?:19|20)\d\d))?"
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365, "fortnight": 14}
_UNITS = r"(?P<u>days?|weeks?|months?|years?|fortnights?)"

Resolver = Callable[[re.Match[str], Context], tuple[str, object] | None]


def _month(match: re.Match[str]) -> int:
    return MONTHS[match.group("m").casefold().rstrip(".")]


def _year(match: re.Match[str]) -> int | None:
    raw = match.groupdict().get("y")
    return int(raw) if raw else None


def _unit_days(unit: str) -> int:
    return _UNIT_DAYS[unit.casefold().rstrip("s")]


def _may_is_verb(match: re.Match[str]) -> bool:
    # "I may need..." is not May; the month is written with a capital.
    return match.group("m") == "may"


def _day_month(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    if _may_is_verb(match):
        return None
    day = resolve_month_day(_month(match), int(match.group("d")), _year(match), context.today)
    return ("date", day) if day else None


def _numeric(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    # Day first, as in the UK: "9/3/2019" is the 9th of March.
    year = int(match.group("y"))
    year += 2000 if year < 100 else 0
    try:
        return ("date", date(year, int(match.group("mo")), int(match.group("d"))))
    except ValueError:
        return None


def _iso(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    try:
        return ("date", date.fromisoformat(match.group(0)))
    except ValueError:
        return None


def _relative_word(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    word = re.sub(r"\s+", " ", match.group(0).casefold())
    offsets = {
        "today": 0,
        "tonight": 0,
        "this evening": 0,
        "yesterday": -1,
        "last night": -1,
        "tomorrow": 1,
        "day after tomorrow": 2,
        "day before yesterday": -2,
    }
    return ("date", context.today + timedelta(days=offsets[word]))


def _ago(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    count = parse_number(match.group("n"))
    if count is None:
        return None
    unit = match.group("u").casefold().rstrip("s")
    amount = int(count)
    if unit == "month":
        return ("date", add_months(context.today, -amount))
    if unit == "year":
        return ("date", add_months(context.today, -12 * amount))
    return ("date", context.today - timedelta(days=amount * _unit_days(unit)))


def _ahead(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    count = parse_number(match.group("n"))
    if count is None:
        return None
    unit = match.group("u").casefold().rstrip("s")
    amount = int(count)
    if unit == "month":
        return ("date", add_months(context.today, amount))
    if unit == "year":
        return ("date", add_months(context.today, 12 * amount))
    return ("date", context.today + timedelta(days=amount * _unit_days(unit)))


def _weekday(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    weekday = WEEKDAYS[match.group("wd").casefold()]
    modifier = (match.group("mod") or "").casefold() or None
    week_word = match.group("wk")
    post = re.sub(r"\s+", " ", (match.group("post") or "").casefold())
    if modifier == "coming":
        modifier = None
    if week_word:  # "last week Monday", "next week Friday"
        modifier = modifier if modifier in ("last", "next") else "this"
        shift = {"last": -7, "next": 7, "this": 0}[modifier]
        return ("date", week_start(context.today) + timedelta(days=shift + weekday))
    if post in ("last week", "next week", "this week"):
        shift = {"last week": -7, "next week": 7, "this week": 0}[post]
        return ("date", week_start(context.today) + timedelta(days=shift + weekday))
    weeks = {"in a week": 1, "in one week": 1, "in two weeks": 2, "in 2 weeks": 2}.get(post, 0)
    return ("date", resolve_weekday(weekday, context.today, modifier=modifier, week_offset=weeks))


def _ordinal_day(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    day = int(match.group("d"))
    if not 1 <= day <= 31:
        return None
    tail = (match.group("tail") or "").casefold()
    if "next month" in tail:
        resolved = add_months(context.today.replace(day=1), 1)
        try:
            return ("date", resolved.replace(day=day))
        except ValueError:
            return None
    if "this month" in tail:
        try:
            return ("date", context.today.replace(day=day))
        except ValueError:
            return None
    past = bool(match.group("last"))
    resolved_day = next_day_of_month(day, context.today, past=past)
    return ("date", resolved_day) if resolved_day else None


def _end_of(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    edge = match.group("edge").casefold()
    which = (match.group("which") or "this").casefold()
    unit = match.group("u").casefold()
    shift = {"this": 0, "the": 0, "next": 1, "last": -1}.get(which, 0)
    if unit == "month":
        anchor = add_months(month_start(context.today), shift)
        start, end = anchor, month_end(anchor)
    elif unit == "week":
        start = week_start(context.today) + timedelta(days=7 * shift)
        end = start + timedelta(days=6)
    else:
        year = context.today.year + shift
        start, end = date(year, 1, 1), date(year, 12, 31)
    return ("date", end if edge == "end" else start)


def _calendar_unit(unit: str, shift: int, today: date) -> DatePeriod:
    if unit == "week":
        start = week_start(today) + timedelta(days=7 * shift)
        return DatePeriod("absolute", start, start + timedelta(days=6))
    if unit == "month":
        start = add_months(month_start(today), shift)
        return DatePeriod("absolute", start, month_end(start))
    if unit == "quarter":
        first = (today.month - 1) // 3 * 3 + 1
        start = add_months(date(today.year, first, 1), 3 * shift)
        return DatePeriod("absolute", start, month_end(add_months(start, 2)))
    year = today.year + shift
    return DatePeriod("absolute", date(year, 1, 1), date(year, 12, 31))


def _this_last_next(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    direction = match.group("dir").casefold()
    unit = match.group("u").casefold().rstrip("s")
    raw_count = match.group("n")
    today = context.today
    if raw_count is None:
        shift = {"this": 0, "current": 0, "last": -1, "past": -1, "previous": -1}
        return ("date_period", _calendar_unit(unit, shift.get(direction, 1), today))
    count = parse_number(re.sub(r"\s+of$", "", raw_count.casefold()))
    if count is None:
        return None
    amount = int(count)
    backwards = direction in ("last", "past", "previous")
    if unit in ("day", "week", "fortnight"):
        days = amount * _unit_days(unit)
        if backwards:
            return ("date_period", DatePeriod("absolute", today - timedelta(days=days), today))
        return (
            "date_period",
            DatePeriod("absolute", today + timedelta(1), today + timedelta(days)),
        )
    months = amount * (12 if unit == "year" else 3 if unit == "quarter" else 1)
    this_month = month_start(today)
    if backwards:
        return ("date_period", DatePeriod("absolute", add_months(this_month, -months), this_month))
    start = add_months(this_month, 1)
    return ("date_period", DatePeriod("absolute", start, add_months(start, months)))


def _month_alone(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    if match.group("m").casefold().rstrip(".") == "may" and match.group("m") != "May":
        return None
    month = _month(match)
    year = _year(match)
    relative = (match.group("rel") or "").casefold()
    if relative:
        year = context.today.year + {"last": -1, "this": 0, "next": 1}[relative.split()[0]]
    start = resolve_month_day(month, 1, year, context.today)
    if start is None:
        return None
    return ("date_period", DatePeriod("absolute", start, month_end(start)))


def _year_alone(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    year = int(match.group("y"))
    return ("date_period", DatePeriod("absolute", date(year, 1, 1), date(year, 12, 31)))


def _duration(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    count = parse_number(match.group("n"))
    if count is None:
        return None
    days = int(count * _unit_days(match.group("u")))
    return ("date_period", DatePeriod("relative", days=days))


def _every(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    word = match.group(0).casefold()
    for key, days in (("day", 1), ("dai", 1), ("week", 7), ("month", 30), ("year", 365)):
        if key in word:
            return ("date_period", DatePeriod("relative", days=days))
    if "annual" in word:
        return ("date_period", DatePeriod("relative", days=365))
    return None


def _periodic(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    return ("date_period", DatePeriod("periodic"))


def _vague(match: re.Match[str], context: Context) -> tuple[str, object] | None:
    return ("date_period", DatePeriod("ambiguous"))


_ORDINAL_WORD = "|".join(w for w in ORDINAL_WORDS if w != "last") + "|last"
# Order matters only for equal spans: the resolver keeps the longest match anyway.
_PATTERNS: tuple[tuple[re.Pattern[str], Resolver, int], ...] = (
    (
        re.compile(
            rf"\b(?:{_ORD}|(?:{_ORDINAL_WORD}))(?:\s+{WEEKDAY_PATTERN})?\s+of\s+"
            r"(?:each|every|the)\s+month\b",
            _I,
        ),
        _periodic,
        5,
    ),
    (
        re.compile(
            rf"\b(?:(?:{WEEKDAY_PATTERN}),?\s+)?{_DAY}\s+(?:of\s+)?(?P<m>{MONTH_PATTERN})(?!\w){_YEAR}",
            _I,
        ),
        _day_month,
        4,
    ),
    (
        re.compile(
            rf"\b(?:(?:{WEEKDAY_PATTERN}),?\s+)?(?P<m>{MONTH_PATTERN})\s+(?:the\s+)?"
            rf"{_DAY}(?![\d:])(?!\s*(?:[ap]\.?m\b|hours?|minutes?|days?|%|pounds|dollars|euros)){_YEAR}",
            _I,
        ),
        _day_month,
        4,
    ),
    (re.compile(r"\b(?P<d>[0-3]?\d)/(?P<mo>[01]?\d)/(?P<y>\d{2}|\d{4})\b"), _numeric, 4),
    (re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b"), _iso, 4),
    (
        re.compile(
            r"\b(?:day\s+after\s+tomorrow|day\s+before\s+yesterday|today|tonight|tomorrow|"
            r"yesterday|last\s+night|this\s+evening)\b",
            _I,
        ),
        _relative_word,
        3,
    ),
    (re.compile(rf"\b(?P<n>{NUMBER_PATTERN}|some)\s+{_UNITS}\s+ago\b", _I), _ago, 3),
    (re.compile(rf"\bin\s+(?P<n>{NUMBER_PATTERN})\s+{_UNITS}(?!\s+time)\b", _I), _ahead, 3),
    (re.compile(rf"\b(?P<n>{NUMBER_PATTERN})\s+{_UNITS}\s+from\s+now\b", _I), _ahead, 3),
    (
        re.compile(
            rf"\b(?:(?P<mod>last|this|next|coming)\s+(?P<wk>week\s+)?)?(?P<wd>{WEEKDAY_PATTERN})"
            r"(?:\s+(?P<post>last\s+week|next\s+week|this\s+week|in\s+(?:a|one|two|2)\s+weeks?))?\b",
            _I,
        ),
        _weekday,
        3,
    ),
    (
        re.compile(
            rf"(?:\b(?P<last>last)\s+|(?<=\bthe\s)|(?<=\bon\s)|(?<=\bfrom\s)|(?<=\bto\s)|"
            rf"(?<=\buntil\s)|(?<=\btill\s)|(?<=\bsince\s)|(?<=\bby\s))"
            rf"{_ORD}\b(?P<tail>\s+(?:of\s+)?(?:this|next)\s+month)?",
            _I,
        ),
        _ordinal_day,
        2,
    ),
    (
        re.compile(
            r"\b(?P<edge>end|start|beginning)\s+of\s+(?:the\s+)?(?P<which>this|next|last|the)?\s*"
            r"(?P<u>month|year|week)\b",
            _I,
        ),
        _end_of,
        3,
    ),
    (
        re.compile(
            rf"\b(?P<dir>this|current|last|past|previous|next|coming)\s+"
            rf"(?P<n>{NUMBER_PATTERN}|few|couple\s+of)?\s*(?P<u>days?|weeks?|months?|years?|"
            r"quarters?|fortnights?)\b",
            _I,
        ),
        _this_last_next,
        3,
    ),
    (
        re.compile(
            r"\b(?P<m>january|february|march|april|may|june|july|august|september|october|"
            r"november|december|sept?|oct|nov|dec|jan|feb|apr|jun|jul|aug)\b"
            r"(?:\s+(?P<y>(?:19|20)\d\d)|\s+(?P<rel>last\s+year|this\s+year|next\s+year))?",
            _I,
        ),
        _month_alone,
        1,
    ),
    (
        re.compile(
            r"\b(?:in|during|since|from|to|until|till|of)\s(?P<core>(?P<y>(?:19|20)\d\d))\b", _I
        ),
        _year_alone,
        1,
    ),
    (
        re.compile(
            rf"(?<!\bin\s)(?<!\blast\s)(?<!\bnext\s)(?<!\bpast\s)\b(?!an?\s+day\b)(?P<n>{NUMBER_PATTERN})\s+"
            rf"{_UNITS}(?!\s+(?:ago|from\s+now|old))\b",
            _I,
        ),
        _duration,
        1,
    ),
    (
        re.compile(
            r"\b(?:every|each)\s+(?:day|week|month|year)\b|\b(?:monthly|yearly|annually)\b",
            _I,
        ),
        _every,
        1,
    ),
    (re.compile(r"\b(?:lately|recently|for\s+days|for\s+ages|for\s+weeks)\b", _I), _vague, 1),
)


def find_dates(text: str, context: Context) -> Iterator[Candidate]:
    for pattern, resolve, priority in _PATTERNS:
        for match in pattern.finditer(text):
            resolved = resolve(match, context)
            if resolved is None:
                continue
            name, value = resolved
            assert isinstance(value, (date, DatePeriod))
            # A "core" group marks the slot inside a match that needed a cue word around it.
            start, end = match.span("core") if "core" in match.groupdict() else match.span()
            yield Candidate(name, start, end, value, priority)
