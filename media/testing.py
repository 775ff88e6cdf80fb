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

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from media.audio_loop import tone_pcm
from media.frames import AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES
from media.ice import IceSettings
from media.peer import PolicedPeerConnection

__all__ = [
    "LOOPBACK",
    "SineTrack",
    "connect",
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
