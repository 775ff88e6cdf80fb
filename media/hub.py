"""The fan-out point of one inbound track: encoded frames in, bounded legs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from media.bounded import DropOldestBuffer
from media.forwarder import Forwarder
from media.frames import EncodedFrame
from media.tap import DecodingTap

__all__ = ["DEFAULT_AUDIO_BUFFER", "DEFAULT_VIDEO_BUFFER", "TrackHub"]

# 200 ms of 20 ms Opus frames: enough to ride out a scheduling hiccup, short enough that a
# leg that fell behind is never more than a breath late.
DEFAULT_AUDIO_BUFFER = 10
# About a second of video; a video leg that overflows restarts at the next keyframe anyway.
DEFAULT_VIDEO_BUFFER = 30


class TrackHub:
    """Fans one inbound track's encoded frames out to any number of legs.

    It is the sink of `media.encoded_receive.EncodedReceive`: `push()` is called on the
    event loop for each frame, and costs one bounded append per subscribed leg. With no
    subscriber the frame is simply let go: nothing is decoded for a track nobody
    listens to. Legs are `Forwarder`s (encoded, for other peers) or `DecodingTap`s (for
    consumers that need PCM); each has its own drop-oldest buffer, so a slow leg never
    delays or grows the others.
    """

    def __init__(
        self,
        kind: Literal["audio", "video"],
        *,
        request_keyframe: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self._request_keyframe = request_keyframe
        self._clock = clock
        self._buffers: dict[object, DropOldestBuffer[EncodedFrame]] = {}
        self._closed = False
        self.frames_in = 0

    @property
    def listeners(self) -> int:
        return len(self._buffers)

    @property
    def closed(self) -> bool:
        return self._closed

    def push(self, frame: EncodedFrame) -> None:
        self.frames_in += 1
        for buffer in self._buffers.values():
            buffer.put(frame)

    def close(self) -> None:
        """The inbound track ended: every leg ends once it has drained."""
        self._closed = True
        for buffer in self._buffers.values():
            buffer.close()
        self._buffers.clear()

    def forward(self, maxlen: int | None = None) -> Forwarder:
        """A new encoded leg, e.g. for an `RTCRtpSender` or a `SwitchableTrack`."""
        buffer = self._subscribe(maxlen)
        forwarder = Forwarder(
            self.kind,
            buffer,
            on_stop=self._unsubscribe,
            request_keyframe=self.request_keyframe,
            clock=self._clock,
        )
        self._buffers[forwarder] = buffer
        return forwarder

    def decode(self, maxlen: int | None = None) -> DecodingTap:
        """A new decoded leg; it decodes until it is stopped."""
        buffer = self._subscribe(maxlen)
        tap = DecodingTap(self.kind, buffer, on_stop=self._unsubscribe)
        self._buffers[tap] = buffer
        return tap

    def request_keyframe(self) -> None:
        """Ask the sender of the inbound track for a keyframe (video; no-op for audio)."""
        if self.kind == "video" and self._request_keyframe is not None and not self._closed:
            self._request_keyframe()

    def _subscribe(self, maxlen: int | None) -> DropOldestBuffer[EncodedFrame]:
        if maxlen is None:
            maxlen = DEFAULT_AUDIO_BUFFER if self.kind == "audio" else DEFAULT_VIDEO_BUFFER
        buffer: DropOldestBuffer[EncodedFrame] = DropOldestBuffer(maxlen)
        if self._closed:
            buffer.close()
        return buffer

    def _unsubscribe(self, leg: object) -> None:
        self._buffers.pop(leg, None)
