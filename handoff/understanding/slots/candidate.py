"""A slot found by one recogniser, before overlaps between recognisers are settled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from handoff.understanding.slots.values import SlotValue

__all__ = ["Candidate", "Context"]


@dataclass(frozen=True, slots=True)
class Context:
    """What relative expressions are resolved against.

    `now` is None when the caller gave only a date: clock-relative phrases ("in 2
    hours") are then left out rather than resolved against a made-up time.
    """

    today: date
    now: datetime | None
    # Everyday banking words (from BANKING77): a lower-case one after "at" is no merchant.
    common_words: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    start: int
    end: int
    value: SlotValue
    # Breaks ties between overlapping candidates of equal length: higher wins.
    priority: int = 0

    @property
    def length(self) -> int:
        return self.end - self.start
