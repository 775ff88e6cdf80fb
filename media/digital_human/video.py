"""The digital human's picture as a live video track: the avatar, its mouth on the voice."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.digital_human.avatar import AvatarRenderer

__all__ = ["VIDEO_CLOCK_RATE", "AvatarVideoTrack", "FrameClock", "Mouth"]

VIDEO_CLOCK_RATE = 90_000
# Behind schedule by more than this, skip the missed frames rather than rush them out.
_MAX_BEHIND = 0.2


class Mouth(Protocol):
    """Where the openness comes from: a `VoiceOutput`."""

    @property
    def mouth_openness(self) -> float: ...


class FrameClock:
    """A camera's schedule: `tick()` waits for the next frame's instant and returns it
    (seconds since the first frame). Frames missed by more than 0.2 s are skipped, not
    rushed out; the instants stay on the wall clock."""

    def __init__(self, fps: float) -> None:
        if not 1 <= fps <= 60:
            raise ValueError("fps must be between 1 and 60")
        self.period = 1.0 / fps
        self._began: float | None = None
        self._index = 0
        self.skipped = 0

    async def tick(self) -> float:
        now = time.monotonic()
        if self._began is None:
            self._began = now
        due = self._began + self._index * self.period
        if now - due > _MAX_BEHIND:
            missed = int((now - due) / self.period)
            self._index += missed
            self.skipped += missed
            due = self._began + self._index * self.period
        if due > now:
            await asyncio.sleep(due - now)
        self._index += 1
        return due - self._began


class AvatarVideoTrack(MediaStreamTrack):
    """Frames of `renderer` at `fps`, paced by the wall clock like a camera.

    Each frame shows the mouth as open as `mouth` says at the moment it is drawn, i.e.
    with the audio being sent at that moment; both then cross the network and the
    receiver's jitter buffers. Rendering is a fraction of a millisecond and runs on the
    event loop; aiortc's sender encodes (VP8) on a worker thread.
    """

    kind = "video"

    def __init__(self, renderer: AvatarRenderer, mouth: Mouth, *, fps: float = 15.0) -> None:
        super().__init__()
        self._renderer = renderer
        self._mouth = mouth
        self.clock = FrameClock(fps)
        self.frames = 0

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        t = await self.clock.tick()
        self.frames += 1
        return self._renderer.video_frame(
            t, self._mouth.mouth_openness, round(t * VIDEO_CLOCK_RATE)
        )
