"""Calendar arithmetic for resolving what customers say about days relative to today."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

__all__ = [
    "add_months",
    "month_end",
    "month_start",
    "next_day_of_month",
    "resolve_month_day",
    "resolve_weekday",
    "week_start",
]


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def add_months(day: date, months: int) -> date:
    """The same day `months` later (or earlier), clipped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def resolve_month_day(month: int, day: int, year: int | None, today: date) -> date | None:
    """A day in a month; without a year, this year unless the month is already over.

    "January 10th" said in March means next January, "March 1st" means this March: a
    customer naming a month that has passed talks about the next one.
    """
    if year is None:
        year = today.year + 1 if month < today.month else today.year
    try:
        return date(year, month, day)
    except ValueError:
        return None


def next_day_of_month(day: int, today: date, *, past: bool = False) -> date | None:
    """Resolve "the 18th": this month's if it is still to come (or today), else next month's.

    With `past` ("last 13th") the most recent one instead.
    """
    step = -1 if past else 1
    candidate_month = today.replace(day=1)
    for _ in range(3):
        try:
            candidate = candidate_month.replace(day=day)
        except ValueError:
            candidate = None
        if candidate is not None and (candidate <= today if past else candidate >= today):
            return candidate
        candidate_month = add_months(candidate_month, step)
    return None


def resolve_weekday(
    weekday: int, today: date, *, modifier: str | None, week_offset: int = 0
) -> date:
    """A weekday as customers mean it.

    Bare ("Tuesday"): the next one after today. "this": in the current Monday-Sunday
    week. "next": in next week. "last": the most recent one before today. A
    `week_offset` ("Thursday in two weeks") moves the bare reading by whole weeks.
    """
    if modifier == "this":
        return week_start(today) + timedelta(days=weekday)
    if modifier == "next":
        return week_start(today) + timedelta(days=7 + weekday)
    if modifier == "last":
        back = (today.weekday() - weekday) % 7 or 7
        return today - timedelta(days=back)
    ahead = (weekday - today.weekday()) % 7 or 7
    return today + timedelta(days=ahead + 7 * week_offset)
