"""Helpers for tests and benchmarks: real aiortc peers on loopback, a tone, a tone detector.

Shipped with the package (like `aiohttp.test_utils`) so the media tests, the gateway's
end-to-end tests and the load tests share one way of setting up a call.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import time
from array import array
from collections.abc import Iterable
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack

from media.audio_loop import tone_pcm
from media.frames import AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES
from media.ice import IceSettings
from media.peer import PolicedPeerConnection

__all__ = [
    "LOOPBACK",
    "LoopbackClient",
    "Microphone",
    "PlainVideoTrack",
    "SineTrack",
    "connect",
    "dominant_tone",
    "heard_from",
    "loopback_peer",
    "mono_samples",
    "tone_level",
    "wait_connected",
]

LOOPBACK = IceSettings()


def loopback_peer() -> PolicedPeerConnection:
    """A peer that gathers on 127.0.0.1 only and asks no STUN server."""
    return PolicedPeerConnection(LOOPBACK)


async def connect(offerer: RTCPeerConnection, answerer: RTCPeerConnection) -> None:
    """Offer/answer between two in-process peers (aiortc gathers before it returns)."""
    await offerer.setLocalDescription(await offerer.createOffer())
    await answerer.setRemoteDescription(offerer.localDescription)
    await answerer.setLocalDescription(await answerer.createAnswer())
    await offerer.setRemoteDescription(answerer.localDescription)


async def wait_connected(*peers: RTCPeerConnection) -> None:
    while any(pc.connectionState != "connected" for pc in peers):
        if any(pc.connectionState in ("failed", "closed") for pc in peers):
            raise ConnectionError("a peer connection failed")
        await asyncio.sleep(0.01)


class SineTrack(AudioStreamTrack):
    """A live-paced mono 48 kHz sine, 20 ms per frame, as a microphone would deliver."""

    def __init__(self, frequency: float = 440.0, level: float = 0.3) -> None:
        super().__init__()
        # One second holds a whole number of periods for an integer frequency.
        self._pcm = tone_pcm(frequency, 1.0, level).tobytes()
        self._index = 0
        self._began: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._began is None:
            self._began = time.monotonic()
        due = self._began + self._index * OPUS_FRAME_SAMPLES / AUDIO_CLOCK_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=OPUS_FRAME_SAMPLES)
        size = 2 * OPUS_FRAME_SAMPLES
        offset = (self._index * size) % len(self._pcm)
        frame.planes[0].update(self._pcm[offset : offset + size])
        frame.pts = self._index * OPUS_FRAME_SAMPLES
        frame.sample_rate = AUDIO_CLOCK_RATE
        frame.time_base = fractions.Fraction(1, AUDIO_CLOCK_RATE)
        self._index += 1
        return frame


class Microphone(AudioStreamTrack):
    """A live-paced mono 48 kHz microphone: queued 20 ms frames of speech, else silence.

    `play(pcm)` queues s16 mono PCM (e.g. what a text-to-speech engine said); it is sent
    in 20 ms frames as time passes, and silence fills the rest.
    """

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[bytes] = []
        self._index = 0
        self._began: float | None = None

    def play(self, pcm: bytes) -> None:
        size = 2 * OPUS_FRAME_SAMPLES
        padded = pcm + bytes(-len(pcm) % size)
        self._queue.extend(padded[i : i + size] for i in range(0, len(padded), size))

    @property
    def playing(self) -> bool:
        return bool(self._queue)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._began is None:
            self._began = time.monotonic()
        due = self._began + self._index * OPUS_FRAME_SAMPLES / AUDIO_CLOCK_RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pcm = self._queue.pop(0) if self._queue else bytes(2 * OPUS_FRAME_SAMPLES)
        frame = av.AudioFrame(format="s16", layout="mono", samples=OPUS_FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.pts = self._index * OPUS_FRAME_SAMPLES
        frame.sample_rate = AUDIO_CLOCK_RATE
        frame.time_base = fractions.Fraction(1, AUDIO_CLOCK_RATE)
        self._index += 1
        return frame


def mono_samples(frames: Iterable[av.AudioFrame]) -> array[int]:
    """The first channel of interleaved s16 frames, as aiortc's receivers produce them."""
    samples = array("h")
    for frame in frames:
        data = array("h", bytes(frame.planes[0])[: 2 * frame.samples * len(frame.layout.channels)])
        samples.extend(data[:: len(frame.layout.channels)])
    return samples


def tone_level(samples: array[int], frequency: float) -> float:
    """The share of the signal's power at `frequency` (Goertzel), from 0.0 to ~1.0."""
    n = len(samples)
    if n == 0:
        return 0.0
    coefficient = 2 * math.cos(2 * math.pi * frequency / AUDIO_CLOCK_RATE)
    s1 = s2 = 0.0
    total = 0.0
    for x in samples:
        s0 = x + coefficient * s1 - s2
        s2, s1 = s1, s0
        total += x * x
    power = s1 * s1 + s2 * s2 - coefficient * s1 * s2
    return 0.0 if total == 0 else 2 * power / (n * total)


def dominant_tone(samples: array[int], candidates: Iterable[float]) -> float:
    """Which of `candidates` carries the most of the signal's power."""
    return max(candidates, key=lambda frequency: tone_level(samples, frequency))


class PlainVideoTrack(MediaStreamTrack):
    """A live-paced grey picture of a chosen size (aiortc's own test track is 640x480 only)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15) -> None:
        super().__init__()
        self._size = (width, height)
        self._period = 1 / fps
        self._index = 0
        self._began: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._began is None:
            self._began = time.monotonic()
        delay = self._began + self._index * self._period - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        # A new frame each time: aiortc encodes in a worker thread.
        frame = av.VideoFrame(*self._size, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([128]) * plane.buffer_size)
        frame.pts = round(self._index * self._period * 90_000)
        frame.time_base = fractions.Fraction(1, 90_000)
        self._index += 1
        return frame


class LoopbackClient:
    """A participant's browser, for tests: a loopback peer that offers and keeps what it gets.

    Every frame it receives (decoded by aiortc, as a browser would) is kept with its
    arrival time in `received[kind]`; its own signaling state changes are in `signaling`.
    """

    def __init__(
        self, audio: MediaStreamTrack | None = None, video: MediaStreamTrack | None = None
    ) -> None:
        self.pc = loopback_peer()
        self.received: dict[str, list[tuple[float, av.AudioFrame | av.VideoFrame]]] = {
            "audio": [],
            "video": [],
        }
        self.signaling: list[str] = []
        self.offers = 0
        self._tasks: set[asyncio.Task[None]] = set()
        for track in (audio, video):
            if track is not None:
                self.pc.addTrack(track)
        self.pc.on("track", self._on_track)
        self.pc.on("signalingstatechange", self._on_signaling)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        self.offers += 1
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    def add_video(self, track: MediaStreamTrack) -> None:
        """Start sending video; the next `offer()` carries it (a renegotiation)."""
        self.pc.addTrack(track)

    def frames(self, kind: str, start: float = 0.0, end: float | None = None) -> list[Any]:
        return [f for t, f in self.received[kind] if t >= start and (end is None or t < end)]

    def arrivals(self, kind: str, start: float = 0.0) -> list[float]:
        return [t for t, _ in self.received[kind] if t >= start]

    async def close(self) -> None:
        await self.pc.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(self._drain(track, self.received[track.kind]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_signaling(self) -> None:
        self.signaling.append(self.pc.signalingState)

    @staticmethod
    async def _drain(track: MediaStreamTrack, into: list[tuple[float, Any]]) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            into.append((time.monotonic(), frame))


async def heard_from(
    peer: LoopbackClient,
    tone: float,
    since: float,
    seconds: float = 5.0,
    *,
    poll: float = 0.02,
) -> float:
    """When `peer` first received a 20 ms frame of `tone` after `since` (monotonic)."""
    deadline = time.monotonic() + seconds
    checked = 0
    while time.monotonic() < deadline:
        frames = peer.received["audio"]
        for at, frame in frames[checked:]:
            audio = frame if isinstance(frame, av.AudioFrame) else None
            if at >= since and audio is not None and tone_level(mono_samples([audio]), tone) > 0.5:
                return at
        checked = len(frames)
        await asyncio.sleep(poll)
    raise TimeoutError(f"{tone} Hz never arrived")
