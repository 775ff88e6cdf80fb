"""Real aiortc peers on loopback: a customer's encoded audio and video forwarded to an agent.

customer --(Opus/VP8)--> server: EncodedReceive -> TrackHub -> Forwarder -> Switchable*Track
--(the same Opus/VP8 payloads)--> agent, which decodes. Nothing on the server decodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import av
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack, VideoStreamTrack

from media.audio_loop import EncodedAudioLoop
from media.encoded_receive import EncodedReceive, on_keyframe_request, receiver_for_track
from media.hub import TrackHub
from media.slate import EncodedSlate
from media.switchable import SwitchableAudioTrack, SwitchableVideoTrack
from media.testing import (
    SineTrack,
    connect,
    loopback_peer,
    mono_samples,
    tone_level,
    wait_connected,
)

F = TypeVar("F", bound=Callable[..., Awaitable[None]])


def bounded(seconds: float) -> Callable[[F], F]:
    """Fail a test that has not finished in `seconds`, rather than hang the run."""

    def decorate(test: F) -> F:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return cast(F, run)

    return decorate


@dataclass
class Received:
    """What the agent's side decoded: (arrival time, frame)."""

    frames: list[tuple[float, Any]] = field(default_factory=list)

    def since(self, start: float, end: float | None = None) -> list[Any]:
        return [f for t, f in self.frames if t >= start and (end is None or t < end)]


class Calls:
    """Owns every peer connection and task a test makes, and closes them all."""

    def __init__(self) -> None:
        self.peers: list[RTCPeerConnection] = []
        self.tasks: list[asyncio.Task[None]] = []

    def peer(self) -> RTCPeerConnection:
        pc = loopback_peer()
        self.peers.append(pc)
        return pc

    async def customer_to_server(self, track: MediaStreamTrack) -> tuple[TrackHub, Any]:
        """A customer sending `track`; returns the server's hub for it and its receiver."""
        customer, server = self.peer(), self.peer()
        customer.addTrack(track)
        hubs: list[tuple[TrackHub, Any]] = []

        @server.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            receiver = receiver_for_track(server, remote)
            hook: list[EncodedReceive] = []
            hub = TrackHub(remote.kind, request_keyframe=lambda: hook[0].request_keyframe())
            hook.append(EncodedReceive(receiver, hub))
            hubs.append((hub, receiver))

        await connect(customer, server)
        await wait_connected(customer, server)
        return hubs[0]

    async def server_to_agent(self, track: MediaStreamTrack) -> tuple[Received, Any]:
        """The server sending `track` to an agent that decodes it; returns what it got."""
        server, agent = self.peer(), self.peer()
        sender = server.addTrack(track)
        received = Received()

        @agent.on("track")
        def on_track(remote: MediaStreamTrack) -> None:
            self.tasks.append(asyncio.ensure_future(drain(remote, received)))

        await connect(server, agent)
        await wait_connected(server, agent)
        return received, sender

    async def close(self) -> None:
        for pc in self.peers:
            await pc.close()
        for task in self.tasks:
            task.cancel()


async def drain(track: MediaStreamTrack, received: Received) -> None:
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        received.frames.append((time.monotonic(), frame))


@pytest.fixture
async def calls() -> AsyncIterator[Calls]:
    made = Calls()
    try:
        yield made
    finally:
        async with asyncio.timeout(10):
            await made.close()


@contextlib.contextmanager
def counting_decoders(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Counts every decoder aiortc's receivers create (one per track that decodes)."""
    import aiortc.rtcrtpreceiver as receiver_module

    created: list[str] = []
    original: Callable[..., Any] = receiver_module.get_decoder

    def get_decoder(codec: Any) -> Any:
        created.append(codec.mimeType)
        return original(codec)

    monkeypatch.setattr(receiver_module, "get_decoder", get_decoder)
    yield created


def pts_steps(frames: list[av.AudioFrame]) -> set[int]:
    return {b.pts - a.pts for a, b in itertools.pairwise(frames)}


@bounded(20)
async def test_encoded_audio_reaches_the_agent_and_nothing_decodes_on_the_server(
    calls: Calls, monkeypatch: pytest.MonkeyPatch
) -> None:
    with counting_decoders(monkeypatch) as decoders:
        hub, receiver = await calls.customer_to_server(SineTrack(440.0))
        forwarder = hub.forward()
        received, _ = await calls.server_to_agent(SwitchableAudioTrack(forwarder))
        await asyncio.sleep(0.5)
        start = time.monotonic()
        await asyncio.sleep(1.0)
        window = received.since(start, start + 1.0)
        # Only the agent's receiver decodes; the server's receiver got a decoder thread
        # that never received a frame.
        assert decoders == ["audio/opus"]

    # 50 a second; a loaded 2-core box may shift a frame or few across the window edges.
    assert 40 <= len(window) <= 60, f"{len(window)} frames/s at the agent"
    samples = mono_samples(window)
    assert tone_level(samples, 440.0) > 0.8
    assert tone_level(samples, 1000.0) < 0.01
    assert pts_steps(window) == {960}
    assert hub.frames_in >= 70
    assert forwarder.dropped == 0
    # Had the server decoded, its stock remote track would be full of frames.
    assert receiver.track._queue.qsize() == 0


@bounded(20)
async def test_switching_the_agents_audio_between_customers_and_hold(calls: Calls) -> None:
    hub_a, _ = await calls.customer_to_server(SineTrack(440.0))
    hub_b, _ = await calls.customer_to_server(SineTrack(880.0))
    hold = EncodedAudioLoop.tone(660.0)
    outbound = SwitchableAudioTrack(hub_a.forward())
    received, _ = await calls.server_to_agent(outbound)
    await asyncio.sleep(0.6)

    marks = [time.monotonic()]
    for source in (hold, hub_b.forward(), hub_a.forward()):
        await asyncio.sleep(0.6)
        outbound.switch(source)
        marks.append(time.monotonic())
    await asyncio.sleep(0.6)
    marks.append(time.monotonic())

    # Skip the first 200 ms of each segment: the switch takes effect on the server at
    # once, and is heard after the agent's jitter buffer (about 80-100 ms).
    for (start, end), tone in zip(
        itertools.pairwise(marks), [440.0, 660.0, 880.0, 440.0], strict=True
    ):
        samples = mono_samples(received.since(start + 0.2, end))
        levels = {f: round(tone_level(samples, f), 3) for f in (440.0, 660.0, 880.0)}
        assert levels[tone] > 0.7, (tone, levels)

    frames = received.since(marks[0])
    # One RTP timeline across all switches: every frame 20 ms after the previous one.
    assert pts_steps(frames) == {960}
    arrivals = [t for t, _ in received.frames if t >= marks[0]]
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert max(gaps) < 0.08, f"largest gap at the agent: {max(gaps) * 1000:.0f} ms"
    assert statistics.median(gaps) == pytest.approx(0.02, abs=0.005)
    assert outbound.filled <= 6


@bounded(20)
async def test_forwarded_video_switches_on_a_keyframe_between_slate_and_customer(
    calls: Calls,
) -> None:
    hub, _ = await calls.customer_to_server(VideoStreamTrack())
    slate = EncodedSlate.render(320, 240, marks=3)
    outbound = SwitchableVideoTrack(idle=slate)
    received, sender = await calls.server_to_agent(outbound)
    on_keyframe_request(sender, outbound.request_keyframe)
    await asyncio.sleep(0.5)

    switched = time.monotonic()
    outbound.switch(hub.forward())
    await asyncio.sleep(1.0)
    back = time.monotonic()
    outbound.switch(None)
    await asyncio.sleep(0.6)

    sizes = [(t, f.width, f.height) for t, f in received.frames]
    assert {(w, h) for t, w, h in sizes if t < switched} == {(320, 240)}
    customer = [t for t, w, _ in sizes if switched <= t < back and w == 640]
    assert customer, "the customer's video never reached the agent"
    # The PLI made the customer's encoder send a keyframe at once.
    assert customer[0] - switched < 0.5
    # aiortc's VideoStreamTrack runs at 30 fps.
    assert len(customer) >= 20
    assert any(w == 320 for t, w, _ in sizes if t >= back)
    pts = [f.pts for _, f in received.frames]
    assert all(b > a for a, b in itertools.pairwise(pts))
