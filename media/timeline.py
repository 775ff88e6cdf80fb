"""An output timeline that stays continuous whatever the source timestamps do."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["ContinuousTimeline"]


class ContinuousTimeline:
    """Maps source timestamps onto output timestamps that only ever move forward.

    Within one run of a source the output follows the source's own spacing, so a pause
    (DTX, a dropped frame) stays a gap of the same length, as RTP wants. When the source
    jumps (a new SSRC after the remote replaced its track, a switch to another source, a
    timestamp going backwards) the timeline re-anchors on the wall clock: the next output
    is the previous one plus the time that really passed, rounded to whole `step`s and at
    least one step. Receivers therefore never see time run backwards or leap ahead.
    """

    def __init__(
        self,
        clock_rate: int,
        step: int,
        *,
        max_lead_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock_rate = clock_rate
        self._step = step
        self._max_lead = int(max_lead_seconds * clock_rate)
        self._clock = clock
        self._last_source: int | None = None
        self._last_out = 0
        self._last_wall = 0.0
        self._started = False
        self._reanchor = False

    @property
    def last(self) -> int:
        return self._last_out

    def reanchor(self) -> None:
        """The next timestamp comes from a different source: do not trust its spacing."""
        self._reanchor = True

    def map(self, source_timestamp: int) -> int:
        now = self._clock()
        if not self._started:
            out = 0
            self._started = True
        else:
            elapsed = int((now - self._last_wall) * self._clock_rate)
            delta = source_timestamp - (self._last_source or 0)
            if (
                self._reanchor
                or self._last_source is None
                or not 0 < delta <= elapsed + self._max_lead
            ):
                steps = max(1, round(elapsed / self._step))
                out = self._last_out + steps * self._step
            else:
                out = self._last_out + delta
        self._reanchor = False
        self._last_source = source_timestamp
        self._last_out = out
        self._last_wall = now
        return out

    def next_step(self) -> int:
        """Advance by exactly one step (a frame that has no source timestamp of its own)."""
        now = self._clock()
        if not self._started:
            self._started = True
            out = 0
        else:
            out = self._last_out + self._step
        self._last_source = None
        self._last_out = out
        self._last_wall = now
        return out
