"""One leg's view of an inbound track: encoded frames, bounded, as a sendable track."""

from __future__ import annotations

import fractions
import time
from collections.abc import Callable
from typing import Literal

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.bounded import BufferClosed, DropOldestBuffer
from media.frames import (
    AUDIO_CLOCK_RATE,
    AUDIO_TIME_BASE,
    OPUS_FRAME_SAMPLES,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    EncodedFrame,
    EncodedPacket,
    make_packet,
)
from media.timeline import ContinuousTimeline

__all__ = ["Forwarder"]

# The smallest forward step of a re-anchored video timeline: one frame at 30 fps.
_VIDEO_MIN_STEP = VIDEO_CLOCK_RATE // 30


class Forwarder(MediaStreamTrack):
    """Hands a hub's encoded frames to one consumer, which may be an `RTCRtpSender`.

    `recv()` returns `av.Packet`s, which aiortc packetises without encoding. Their
    timestamps are rewritten onto a continuous timeline, so the leg never sees the inbound
    track's timestamp jumps. A slow consumer loses the oldest frames (counted in
    `dropped`), never memory. A video forwarder starts, and restarts after a drop, at a
    keyframe, asking the sender for one, because a decoder cannot use anything before it.
    """

    def __init__(
        self,
        kind: Literal["audio", "video"],
        buffer: DropOldestBuffer[EncodedFrame],
        *,
        on_stop: Callable[[Forwarder], None],
        request_keyframe: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.kind = kind
        self._buffer = buffer
        self._on_stop = on_stop
        self._request_keyframe = request_keyframe
        self._time_base: fractions.Fraction
        if kind == "audio":
            self._time_base = AUDIO_TIME_BASE
            self._timeline = ContinuousTimeline(AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES, clock=clock)
        else:
            self._time_base = VIDEO_TIME_BASE
            self._timeline = ContinuousTimeline(VIDEO_CLOCK_RATE, _VIDEO_MIN_STEP, clock=clock)
        self._seen_drops = 0
        self._need_keyframe = kind == "video"
        if self._need_keyframe:
            request_keyframe()

    @property
    def dropped(self) -> int:
        """Frames this leg lost because it fell behind (or waited for a keyframe)."""
        return self._buffer.dropped

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def catch_up(self, keep: int = 1, *, lost: bool = True) -> int:
        """Forget all but the newest `keep` frames, to be live again after a pause.

        `lost=False`: the consumer had not started yet, so they are not counted as drops.
        """
        dropped = self._buffer.trim(keep, lost=lost)
        if dropped and self.kind == "video":
            self._need_keyframe = True
            self._request_keyframe()
        return dropped

    def request_keyframe(self) -> None:
        self._request_keyframe()

    def poll_frame(self) -> EncodedFrame | None:
        """An audio frame if one is waiting, else None (never waits; see `next_frame`)."""
        if self.kind != "audio" or self.readyState != "live":
            return None
        return self._buffer.get_nowait()

    async def next_frame(self) -> EncodedFrame:
        """The next frame a decoder downstream can use; safe to cancel.

        Raises `MediaStreamError` once the inbound track has ended or this leg stopped.
        """
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                frame = await self._buffer.get()
            except BufferClosed:
                self.stop()
                raise MediaStreamError from None
            if self.kind == "audio":
                return frame
            if self._buffer.dropped != self._seen_drops:
                # A lost video frame breaks every frame that refers to it.
                self._seen_drops = self._buffer.dropped
                if not self._need_keyframe:
                    self._need_keyframe = True
                    self._request_keyframe()
            if self._need_keyframe and not frame.keyframe:
                self._buffer.dropped += 1
                self._seen_drops = self._buffer.dropped
                continue
            self._need_keyframe = False
            return frame

    async def recv(self) -> EncodedPacket:
        frame = await self.next_frame()
        return make_packet(frame.data, self._timeline.map(frame.timestamp), self._time_base)

    def stop(self) -> None:
        if self.readyState == "live":
            self._buffer.close()
            self._on_stop(self)
        super().stop()
