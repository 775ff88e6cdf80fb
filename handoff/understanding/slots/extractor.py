"""All recognisers together: overlapping finds settled, then ranges told apart.

Every recogniser proposes candidates independently; the longest candidate wins an
overlap (then the more specific recogniser), so "in 7 days" beats "7 days" and
"next week" beats the brand "Next". Finally a date or time right after "from" /
"since" starts a range and one after "to" / "until" ends it, as NLU++ annotates them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime

from handoff.understanding.datasets import load_banking77
from handoff.understanding.slots.candidate import Candidate, Context
from handoff.understanding.slots.dates import find_dates
from handoff.understanding.slots.merchants import find_merchants
from handoff.understanding.slots.money import find_money
from handoff.understanding.slots.references import find_references
from handoff.understanding.slots.times import find_times
from handoff.understanding.slots.values import DatePeriod, Slot

__all__ = ["SLOT_NAMES", "SlotExtractor", "extract_slots"]

Recogniser = Callable[[str, Context], Iterable[Candidate]]

SLOT_NAMES: tuple[str, ...] = (
    "amount_of_money",
    "date",
    "date_from",
    "date_to",
    "date_period",
    "time",
    "time_from",
    "time_to",
    "time_period",
    "company_name",
    "card",
    "account",
)

_RECOGNISERS: tuple[Recogniser, ...] = (
    find_money,
    find_dates,
    find_times,
    find_merchants,
    find_references,
)

_I = re.IGNORECASE
_WORD = re.compile(r"[a-z]+")
_FROM = re.compile(
    r"(?:\bfrom|\bsince|\bstarting(?:\s+(?:on|from|at))?|\bbetween|\bbeginning(?:\s+on)?)"
    r"\s+(?:the\s+|this\s+)?$",
    _I,
)
_TO = re.compile(
    r"(?:\bto|\buntil|\btill|\bup\s+to|\bthrough|\bno\s+later\s+than|\bending(?:\s+at)?|"
    r"\band)\s+(?:the\s+)?$",
    _I,
)
_DAY_WORD = re.compile(r"today|tonight|tomorrow|yesterday|this\s+evening|last\s+night", _I)
_PERIOD_FROM = re.compile(r"(?:\bsince|\bstarting(?:\s+(?:on|from))?)\s+(?:the\s+)?$", _I)
_PERIOD_TO = re.compile(r"(?:\buntil|\btill|\bup\s+to|\bno\s+later\s+than)\s+(?:the\s+)?$", _I)


def _settle(candidates: Iterable[Candidate]) -> list[Candidate]:
    chosen: list[Candidate] = []
    for candidate in sorted(candidates, key=lambda c: (-c.length, -c.priority, c.start)):
        if all(candidate.end <= c.start or c.end <= candidate.start for c in chosen):
            chosen.append(candidate)
    return sorted(chosen, key=lambda c: c.start)


def _role(candidate: Candidate, text: str, before: str, earlier: list[Candidate]) -> Candidate:
    family = candidate.name.split("_")[0]
    has_start = any(c.name == f"{family}_from" for c in earlier)
    if candidate.name in ("date", "time"):
        if _DAY_WORD.fullmatch(text):
            # "since yesterday", "to today's meeting": NLU++ keeps day words plain dates.
            return candidate
        if _FROM.search(before):
            return _renamed(candidate, f"{family}_from")
        if _TO.search(before):
            # "and" ends a range only when one was opened ("between 9 and 5").
            word = before.rstrip().rsplit(maxsplit=1)[-1].casefold() if before.strip() else ""
            if word != "and" or has_start:
                return _renamed(candidate, f"{family}_to")
        return candidate
    if candidate.name == "date_period" and isinstance(candidate.value, DatePeriod):
        period = candidate.value
        if period.kind != "absolute" or period.start is None or period.end is None:
            return candidate
        if _PERIOD_FROM.search(before):
            return _renamed(candidate, "date_from", period.start)
        if _PERIOD_TO.search(before) or (has_start and _TO.search(before)):
            return _renamed(candidate, "date_to", period.end)
    return candidate


def _renamed(candidate: Candidate, name: str, value: date | None = None) -> Candidate:
    return Candidate(
        name,
        candidate.start,
        candidate.end,
        candidate.value if value is None else value,
        candidate.priority,
    )


def _roles(text: str, candidates: list[Candidate]) -> Iterator[Candidate]:
    done: list[Candidate] = []
    for candidate in candidates:
        before = text[max(0, candidate.start - 30) : candidate.start]
        resolved = _role(candidate, text[candidate.start : candidate.end], before, done)
        done.append(resolved)
        yield resolved


def extract_slots(
    text: str, *, today: date | None = None, common_words: frozenset[str] = frozenset()
) -> tuple[Slot, ...]:
    """Slots of `text`, in order; relative dates resolve against `today`.

    `today` may be a `datetime`: clock-relative phrases ("in 2 hours") then resolve
    too. None means the local date and time now. `common_words` are everyday words that
    a lower-case merchant name never starts with (see `SlotExtractor.bundled`).
    """
    now: datetime | None
    if today is None:
        now = datetime.now()
        day = now.date()
    elif isinstance(today, datetime):
        now, day = today, today.date()
    else:
        now, day = None, today
    context = Context(day, now, common_words)
    found = _settle(c for recognise in _RECOGNISERS for c in recognise(text, context))
    return tuple(
        Slot(c.name, text[c.start : c.end], (c.start, c.end), c.value) for c in _roles(text, found)
    )


class SlotExtractor:
    """`extract_slots` with a fixed vocabulary of everyday words."""

    def __init__(self, *, common_words: frozenset[str] = frozenset()) -> None:
        self.common_words = common_words

    @classmethod
    def bundled(cls, *, min_count: int = 2) -> SlotExtractor:
        """Everyday words are those used at least `min_count` times in BANKING77 queries."""
        counts = Counter(
            word for row in load_banking77() for word in _WORD.findall(row.text.casefold())
        )
        return cls(common_words=frozenset(w for w, n in counts.items() if n >= min_count))

    def extract(self, text: str, *, today: date | None = None) -> tuple[Slot, ...]:
        return extract_slots(text, today=today, common_words=self.common_words)
