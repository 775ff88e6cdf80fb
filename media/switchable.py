"""Stable outbound tracks whose source is swapped at runtime, without renegotiation.

The customer's peer connection keeps one audio and one video sender for the whole call;
what they carry changes (bot speech, the agent's relayed voice, hold music, another
agent). `RTCRtpSender.replaceTrack` could swap tracks, but every swap would start a new
timestamp run and the new source would be heard only after the receiver's jitter buffer
noticed. These tracks stay the same object and keep one continuous timeline instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.audio_loop import EncodedAudioLoop
from media.forwarder import Forwarder
from media.frames import (
    AUDIO_TIME_BASE,
    OPUS_FRAME_SAMPLES,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    EncodedFrame,
    EncodedPacket,
    make_packet,
)
from media.timeline import ContinuousTimeline

__all__ = [
    "FrameSource",
    "KeyframeSource",
    "PolledSource",
    "SwitchableAudioTrack",
    "SwitchableVideoTrack",
]

_FRAME_SECONDS = OPUS_FRAME_SAMPLES / 48_000
# A packet may go out this much before its slot (a source that is a little early, or a
# pre-encoded one that is always ready) ...
_AHEAD = 0.010
# ... and is waited for this much after it, before silence is sent in its place. Together
# they bound the gap between two packets at 40 ms.
_LATE = 0.010
# Behind the schedule by more than this (the event loop stalled), start a new schedule
# rather than send a burst of packets to catch up.
_MAX_BEHIND = 0.100
# Frames still waiting in a forwarder after a slot took one are latency, built up by
# late arrivals (each got a filler, then played a slot late). A little of it absorbs
# jitter; kept for good it is only delay. After this many slots in which a frame was
# always waiting, the next quiet frame with another behind it is skipped (20 ms less).
_BACKLOG_WINDOW = 50
# An Opus packet this small carries silence or comfort noise (a 20 ms frame of sound is
# 40-200 bytes): skipping it is not heard, where skipping sound would be a click...
_QUIET_BYTES = 16
# ... which is worth it only when at least this many frames (60 ms) kept waiting.
_LOUD_BACKLOG = 3
# How often a pending video switch asks the new source for a keyframe again.
_KEYFRAME_RETRY = 0.5


class FrameSource(Protocol):
    """Anything that yields encoded frames: a `Forwarder`, an `EncodedAudioLoop`, a slate.

    `next_frame()` must be safe to cancel (no frame lost) and raises `MediaStreamError`
    when the source has ended.
    """

    async def next_frame(self) -> EncodedFrame: ...


@runtime_checkable
class PolledSource(Protocol):
    """A source that can say at once whether a frame is ready (`EncodedAudioLoop`, the
    digital human's `OpusVoiceSource`): the audio track then needs no timed wait, which
    costs a timer and a task switch per 20 ms. May raise `MediaStreamError` (ended)."""

    def next_frame_nowait(self) -> EncodedFrame | None: ...


@runtime_checkable
class KeyframeSource(Protocol):
    """A video source that can be asked for a keyframe (a `Forwarder` asks upstream, the
    digital human's `Vp8AvatarSource` encodes one): needed to switch to it, or after a
    receiver lost a picture."""

    def request_keyframe(self) -> None: ...


class SwitchableAudioTrack(MediaStreamTrack):
    """An Opus track, paced at exactly one packet per 20 ms, whose source can change.

    Output timestamps advance by exactly 960 per packet whatever the source does. The
    track keeps its own 20 ms schedule and takes each packet from the current source; a
    source that has nothing by the slot's deadline (paused, late, ended, or none set) is
    covered by a pre-encoded filler (silence by default), so the receiver never sees a
    gap. On a switch at most one packet is a transition: either the old source's last one
    or a filler while the new one starts. A `Forwarder` switched to is first trimmed to
    its newest frame, so a leg that was buffered while not heard is not replayed late,
    and a backlog that stays is shed a frame at a time (see `_BACKLOG_WINDOW`).
    """

    kind = "audio"

    def __init__(
        self, source: FrameSource | None = None, *, filler: EncodedAudioLoop | None = None
    ) -> None:
        super().__init__()
        self._source: FrameSource | None = None
        # The source's frame if it has one ready, without a timed wait (most slots).
        self._poll: Callable[[], EncodedFrame | None] | None = None
        self._forwarder: Forwarder | None = None
        self._filler = filler if filler is not None else EncodedAudioLoop.silence()
        self._pts = 0
        self._due: float | None = None
        self._slots = 0
        self._least_waiting = 0
        self._standing = 0
        self.switches = 0
        self.filled = 0
        self.shed = 0
        self.sent = 0
        if source is not None:
            self.switch(source)

    @property
    def source(self) -> FrameSource | None:
        return self._source

    def switch(self, source: FrameSource | None) -> None:
        """Play `source` from the next packet on (None: the filler). Never blocks."""
        self._forwarder = source if isinstance(source, Forwarder) else None
        if self._forwarder is not None:
            self._forwarder.catch_up(keep=1)
            self._poll = self._forwarder.poll_frame
        elif isinstance(source, PolledSource):
            self._poll = source.next_frame_nowait
        else:
            self._poll = None
        self._source = source
        self._slots = 0
        self._standing = 0
        self.switches += 1

    async def recv(self) -> EncodedPacket:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._due is None or now > self._due + _MAX_BEHIND:
            if self._forwarder is not None:
                # What piled up before the sender started reading (its connection was
                # still being set up) or while the loop stalled is late already: played
                # now, it would stay as latency for the rest of the call.
                self.shed += self._forwarder.catch_up(keep=1, lost=self._due is not None)
            self._due = now
        early = self._due - _AHEAD - now
        if early > 0:
            await asyncio.sleep(early)
        frame = self._poll_now()
        if frame is None:
            frame = await self._take(self._due + _LATE - loop.time())
        if self._forwarder is not None:
            frame = self._shed_backlog(self._forwarder, frame)
        if frame is None:
            frame = self._filler.next_frame_nowait()
            self.filled += 1
        packet = make_packet(frame.data, self._pts, AUDIO_TIME_BASE)
        self._pts += OPUS_FRAME_SAMPLES
        self._due += _FRAME_SECONDS
        self.sent += 1
        return packet

    def _shed_backlog(
        self, forwarder: Forwarder, frame: EncodedFrame | None
    ) -> EncodedFrame | None:
        """`frame`, or the one behind it when a standing backlog can lose this one."""
        waiting = forwarder.pending if frame is not None else 0
        if self._slots == 0 or waiting < self._least_waiting:
            self._least_waiting = waiting
        self._slots += 1
        if self._slots >= _BACKLOG_WINDOW:
            # The backlog that stood through the whole window (0: it came and went).
            self._standing = self._least_waiting
            self._slots = 0
        if not self._standing or frame is None or not waiting:
            self._standing = self._standing if waiting else 0
            return frame
        skippable = len(frame.data) <= _QUIET_BYTES or self._standing >= _LOUD_BACKLOG
        if skippable and (behind := forwarder.poll_frame()) is not None:
            self._standing = 0
            self.shed += 1
            return behind
        return frame

    def _poll_now(self) -> EncodedFrame | None:
        poll = self._poll
        if poll is None:
            return None
        try:
            return poll()
        except MediaStreamError:
            self._ended(self._source)
            return None

    def _ended(self, source: FrameSource | None) -> None:
        if self._source is source:
            self._source = self._poll = self._forwarder = None

    async def _take(self, wait: float) -> EncodedFrame | None:
        source = self._source
        if source is None:
            return None
        try:
            async with asyncio.timeout(max(0.0, wait)):
                return await source.next_frame()
        except TimeoutError:
            return None
        except MediaStreamError:
            self._ended(source)
            return None


class SwitchableVideoTrack(MediaStreamTrack):
    """An encoded video track whose source can change, switching on a keyframe.

    A video decoder can only start at a keyframe, so `switch()` asks the new source for
    one (a PLI upstream, for a `Forwarder`) and keeps showing the old source until it
    arrives; only then does the picture change. With no source (or once it ends) the
    `idle` slate is shown, if there is one; otherwise the receiver keeps the last
    picture. Timestamps follow the source and re-anchor on the wall clock at each switch.
    Frames are passed on as they come, so the source's frame rate is the track's.
    """

    kind = "video"

    def __init__(
        self, source: FrameSource | None = None, *, idle: FrameSource | None = None
    ) -> None:
        super().__init__()
        self._idle = idle
        self._current: FrameSource | None = idle
        self._pending: FrameSource | None = None
        self._reads: dict[FrameSource, asyncio.Task[EncodedFrame]] = {}
        self._changed: asyncio.Event | None = None
        self._timeline = ContinuousTimeline(VIDEO_CLOCK_RATE, VIDEO_CLOCK_RATE // 30)
        self.switches = 0
        self.sent = 0
        if source is not None:
            self.switch(source)

    @property
    def source(self) -> FrameSource | None:
        return self._pending if self._pending is not None else self._current

    def switch(self, source: FrameSource | None) -> None:
        """Show `source` from its next keyframe on (None: the idle slate)."""
        target = source if source is not None else self._idle
        self.switches += 1
        if target is self._current:
            self._pending = None
        else:
            self._pending = target
            if isinstance(target, Forwarder):
                target.catch_up(keep=0)
            if isinstance(target, KeyframeSource):
                target.request_keyframe()
        self._forget_unused()
        if self._changed is not None:
            self._changed.set()

    def request_keyframe(self) -> None:
        """The receiver lost a picture: pass the request to whoever encodes it.

        Wire it to the sender with `media.encoded_receive.on_keyframe_request`.
        """
        if isinstance(self._current, KeyframeSource):
            self._current.request_keyframe()

    async def recv(self) -> EncodedPacket:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            frame = await self._next_from_sources()
            if frame is not None:
                self.sent += 1
                return make_packet(frame.data, self._timeline.map(frame.timestamp), VIDEO_TIME_BASE)

    def stop(self) -> None:
        for task in self._reads.values():
            task.cancel()
        self._reads.clear()
        super().stop()

    async def _next_from_sources(self) -> EncodedFrame | None:
        watched = [s for s in (self._current, self._pending) if s is not None]
        waits: set[asyncio.Future[Any]] = {self._read(s) for s in watched}
        self._changed = changed = asyncio.Event()
        changed_wait = asyncio.ensure_future(changed.wait())
        try:
            done, _ = await asyncio.wait(
                waits | {changed_wait},
                timeout=_KEYFRAME_RETRY if self._pending is not None else None,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            changed_wait.cancel()
            self._changed = None
        if not done and isinstance(self._pending, KeyframeSource):
            self._pending.request_keyframe()
        pending = self._pending
        if pending is not None and self._finished(pending):
            frame = self._collect(pending)
            if frame is not None and frame.keyframe:
                self._current, self._pending = pending, None
                self._timeline.reanchor()
                self._forget_unused()
                return frame
        current = self._current
        if current is not None and self._finished(current):
            return self._collect(current)
        return None

    def _read(self, source: FrameSource) -> asyncio.Task[EncodedFrame]:
        task = self._reads.get(source)
        if task is None:
            task = asyncio.ensure_future(source.next_frame())
            self._reads[source] = task
        return task

    def _finished(self, source: FrameSource) -> bool:
        task = self._reads.get(source)
        return task is not None and task.done()

    def _collect(self, source: FrameSource) -> EncodedFrame | None:
        task = self._reads.pop(source)
        try:
            return task.result()
        except (MediaStreamError, asyncio.CancelledError):
            # The source ended: fall back to the idle slate (or to nothing).
            if source is self._pending:
                self._pending = None
            if source is self._current:
                self._current = None
                # A switch already under way (the old source was stopped once replaced)
                # keeps its target; only a source that ends on its own falls back.
                if self._idle is not None and self._idle is not source and self._pending is None:
                    self._pending = self._idle
            return None

    def _forget_unused(self) -> None:
        for source in list(self._reads):
            if source is not self._current and source is not self._pending:
                with contextlib.suppress(KeyError):
                    self._reads.pop(source).cancel()
