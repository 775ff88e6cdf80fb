"""An output timeline that stays continuous whatever the source timestamps do."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["AnchoredTimeline", "ContinuousTimeline"]


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


class AnchoredTimeline:
    """Maps one source's timestamps onto a clock shared by several sources (a recording).

    Output 0 is `origin` on the wall clock. A run of a source is placed where its first
    frame arrived and then follows the source's own spacing (so network jitter does not
    reach the output), until the source strays more than `tolerance_seconds` from the
    wall clock (a new sender, a timestamp jump, slow drift) or `reanchor()` is called
    (another source takes over). Outputs increase by at least `min_step`, so two runs never
    overlap. Streams mapped against the same origin stay in sync with each other.
    """

    def __init__(
        self,
        clock_rate: int,
        min_step: int,
        *,
        origin: float,
        tolerance_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock_rate = clock_rate
        self._min_step = min_step
        self._origin = origin
        self._tolerance = int(tolerance_seconds * clock_rate)
        self._clock = clock
        self._offset: int | None = None
        self._last: int | None = None
        self.anchors = 0

    @property
    def last(self) -> int | None:
        return self._last

    def reanchor(self) -> None:
        self._offset = None

    def map(self, source_timestamp: int) -> int:
        wall = int((self._clock() - self._origin) * self._clock_rate)
        offset = self._offset
        if offset is None or abs(source_timestamp + offset - wall) > self._tolerance:
            offset = wall - source_timestamp
            self.anchors += 1
        out = source_timestamp + offset
        if self._last is not None and out < self._last + self._min_step:
            out = self._last + self._min_step
            offset = out - source_timestamp
        self._offset = offset
        self._last = out
        return out
