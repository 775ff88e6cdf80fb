"""A whole call over real aiortc peers on loopback: customer and agent legs through `media.Call`.

Each participant is a `LoopbackClient` (an aiortc peer standing in for a browser: it
offers, and decodes what it receives); the server side is a `Call`, which forwards
encoded media between the legs and swaps what each leg hears without renegotiating.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import itertools
import math
import os
import statistics
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast

import pytest
from aiortc import RTCPeerConnection

from media.assets import CallAssets
from media.audio_loop import EncodedAudioLoop
from media.call import Call, CallEvent, CallSummary
from media.calls import Calls
from media.testing import (
    LOOPBACK,
    LoopbackClient,
    PlainVideoTrack,
    SineTrack,
    mono_samples,
    tone_level,
)

F = TypeVar("F", bound=Callable[..., Awaitable[None]])

HOLD_TONE = 330.0
QUEUE_TONE = 220.0
TONES = (QUEUE_TONE, HOLD_TONE, 440.0, 660.0, 880.0)
# The receiving peer's jitter buffer delays what it hears by about 100 ms: windows that
# check what is heard after a change start this much later.
SETTLE = 0.25


def bounded(seconds: float) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        @functools.wraps(test)
        async def run(*args: Any, **kwargs: Any) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return cast(F, run)

    return decorate


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise TimeoutError("the condition never came true")


@pytest.fixture(scope="module")
def assets() -> CallAssets:
    # Steady tones instead of the chime, so a 0.3 s window tells hold from queue.
    return CallAssets.build(
        hold=EncodedAudioLoop.tone(HOLD_TONE, 1.0), queue=EncodedAudioLoop.tone(QUEUE_TONE, 1.0)
    )


class Harness:
    """Makes calls and clients for one test, and closes all of them."""

    def __init__(self, assets: CallAssets) -> None:
        self.assets = assets
        self.events: list[tuple[float, CallEvent]] = []
        self.ended: list[CallSummary] = []
        self.calls = Calls(
            ice=LOOPBACK,
            assets=assets,
            on_ended=self.ended.append,
            on_event=lambda event: self.events.append((time.monotonic(), event)),
            connect_timeout=5.0,
        )
        self.clients: list[LoopbackClient] = []
        self._ids = itertools.count(1)

    def client(self, tone: float | None = None, video: tuple[int, int] | None = None) -> Any:
        client = LoopbackClient(
            audio=SineTrack(tone) if tone is not None else None,
            video=PlainVideoTrack(*video) if video is not None else None,
        )
        self.clients.append(client)
        return client

    def call(self) -> Call:
        n = next(self._ids)
        return self.calls.create(f"call-{n}", f"conversation-{n}")

    async def customer(self, call: Call, tone: float, **kwargs: Any) -> LoopbackClient:
        client = self.client(tone, **kwargs)
        await client.accept(await call.connect_customer(await client.offer()))
        return client

    async def agent(
        self, call: Call, agent_id: str, tone: float, *, transfer: bool = False, **kwargs: Any
    ) -> LoopbackClient:
        client = self.client(tone, **kwargs)
        connect = call.transfer_to if transfer else call.connect_agent
        await client.accept(await connect(agent_id, await client.offer()))
        await self.serving(call, agent_id)
        return client

    @staticmethod
    async def serving(call: Call, agent_id: str) -> None:
        await until(lambda: call.agent_id == agent_id)

    def event_time(self, type: str) -> float:
        return next(t for t, e in self.events if e.type == type)

    async def close(self) -> None:
        await self.calls.close()
        for client in self.clients:
            await client.close()
        self.clients.clear()


@pytest.fixture
async def harness(assets: CallAssets) -> AsyncIterator[Harness]:
    made = Harness(assets)
    try:
        yield made
    finally:
        async with asyncio.timeout(10):
            await made.close()


def levels(client: LoopbackClient, start: float, end: float) -> dict[float, float]:
    """Each tone's share of the power, the median over 100 ms blocks.

    Blocks, because one concealed packet shifts a tone's phase and a Goertzel sum over
    the whole window would then cancel itself out.
    """
    samples = mono_samples(client.frames("audio", start, end))
    assert len(samples) > 0.5 * 48_000 * (end - start), "too little audio arrived"
    blocks = [samples[i : i + 4800] for i in range(0, len(samples) - 4799, 4800)]
    return {f: round(statistics.median(tone_level(b, f) for b in blocks), 3) for f in TONES}


def rms(client: LoopbackClient, start: float, end: float) -> float:
    samples = mono_samples(client.frames("audio", start, end))
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


async def heard_between(
    client: LoopbackClient, seconds: float, settle: float = SETTLE
) -> tuple[float, float]:
    """Wait `seconds` after a change; the window to check is all of it but the first `settle`."""
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return start + settle, time.monotonic()


def assert_tone(heard: dict[float, float], tone: float) -> None:
    assert heard[tone] > 0.7, heard
    assert all(level < 0.05 for f, level in heard.items() if f != tone), heard


# --------------------------------------------------------------------- tests


@bounded(20)
async def test_customer_and_agent_hear_each_other(harness: Harness) -> None:
    call = harness.call()
    customer = await harness.customer(call, 440.0)
    assert_tone(levels(customer, *await heard_between(customer, 0.6)), QUEUE_TONE)

    agent = await harness.agent(call, "agent-a", 880.0)
    window = await heard_between(customer, 0.8)
    assert_tone(levels(customer, *window), 880.0)
    assert_tone(levels(agent, *window), 440.0)

    stats = call.stats()
    assert stats["state"] == "talking"
    assert set(stats["legs"]) == {"customer", "agent"}
    for leg in stats["legs"].values():
        assert leg["state"] == "connected"
        assert leg["in"]["audio"]["frames"] > 30
        assert leg["out"]["audio"]["frames"] > 30
    summary = await call.end("done")
    assert summary.reason == "done"
    assert summary.agents == ("agent-a",)
    assert summary.queued_seconds > 0.5
    assert summary.talk_seconds > 0.7
    assert summary.held_seconds == 0
    assert await call.end("again") is summary
    assert harness.ended == [summary]
    assert call.call_id not in harness.calls


@bounded(25)
async def test_transfer_switches_the_customer_to_the_new_agent_without_renegotiation(
    harness: Harness,
) -> None:
    call = harness.call()
    customer = await harness.customer(call, 440.0)
    agent_a = await harness.agent(call, "agent-a", 660.0)
    # B's browser is made beforehand: building its sine stalls this (shared) loop ~20 ms,
    # which would show as a gap at the customer's peer that a real server never causes.
    agent_b = harness.client(880.0)
    await asyncio.sleep(0.6)
    pc = customer.pc
    before = (
        customer.offers,
        list(customer.signaling),
        [(t.mid, t.direction, id(t)) for t in pc.getTransceivers()],
        pc.remoteDescription.sdp,
    )

    # (Tones are checked afterwards: the pure-Python Goertzel would stall the loop here.)
    asked = time.monotonic()
    await agent_b.accept(await call.transfer_to("agent-b", await agent_b.offer()))
    await harness.serving(call, "agent-b")
    await asyncio.sleep(0.8)

    after = (
        customer.offers,
        list(customer.signaling),
        [(t.mid, t.direction, id(t)) for t in pc.getTransceivers()],
        pc.remoteDescription.sdp,
    )
    assert after == before, "the customer's peer connection was renegotiated"
    assert pc.signalingState == "stable"
    switched = harness.event_time("transferred")

    # Frame by frame (20 ms each), when did the customer start hearing B?
    frames = [(t, f) for t, f in customer.received["audio"] if t >= asked - 0.5]
    heard_b = next(
        t for t, frame in frames if t > switched and tone_level(mono_samples([frame]), 880.0) > 0.5
    )
    arrivals = [t for t, _ in frames]
    gap = max(b - a for a, b in itertools.pairwise(arrivals))
    print(
        f"\ntransfer: largest gap at the customer {gap * 1000:.0f} ms; B heard "
        f"{(heard_b - switched) * 1000:.0f} ms after the switch, "
        f"{(heard_b - asked) * 1000:.0f} ms after transfer_to() was called"
    )
    assert gap < 0.100
    assert heard_b - switched < 0.500
    assert heard_b - asked < 2.0
    assert_tone(levels(customer, asked - 0.4, asked), 660.0)
    assert_tone(levels(customer, heard_b + 0.1, time.monotonic()), 880.0)
    assert_tone(levels(agent_b, heard_b + 0.1, time.monotonic()), 440.0)

    # A's leg is gone on the server, and A's browser saw its connection close.
    assert set(call.stats()["legs"]) == {"customer", "agent"}
    assert call.stats()["legs"]["agent"]["participant"] == "agent-b"
    await until(lambda: agent_a.pc.connectionState == "closed")
    summary = await call.end()
    assert summary.agents == ("agent-a", "agent-b")
    assert summary.transfers == 1


@bounded(25)
async def test_hold_plays_hold_audio_and_mute_silences_a_party(harness: Harness) -> None:
    call = harness.call()
    customer = await harness.customer(call, 440.0)
    agent = await harness.agent(call, "agent-a", 880.0)
    await asyncio.sleep(0.3)

    call.hold()
    window = await heard_between(customer, 0.7)
    assert_tone(levels(customer, *window), HOLD_TONE)
    assert rms(agent, *window) < 50, "the agent should hear silence while the customer is held"
    assert call.state == "held"

    call.unhold()
    window = await heard_between(customer, 0.6)
    assert_tone(levels(customer, *window), 880.0)
    assert_tone(levels(agent, *window), 440.0)

    call.mute("agent", True)
    window = await heard_between(customer, 0.6)
    assert rms(customer, *window) < 50, "a muted agent must not be heard"
    assert_tone(levels(agent, *window), 440.0)

    call.mute("agent", False)
    call.mute("customer", True)
    window = await heard_between(customer, 0.6)
    assert_tone(levels(customer, *window), 880.0)
    assert rms(agent, *window) < 50

    # None of it renegotiated anything.
    assert customer.offers == agent.offers == 1
    summary = await call.end()
    assert 0.5 < summary.held_seconds < 1.2
    assert summary.talk_seconds > 1.5


@bounded(25)
async def test_upgrade_to_video_by_renegotiation(harness: Harness) -> None:
    call = harness.call()
    customer = await harness.customer(call, 440.0)
    agent = await harness.agent(call, "agent-a", 880.0)
    assert call.media == "audio"

    customer.add_video(PlainVideoTrack(352, 288))
    upgraded = time.monotonic()
    await customer.accept(await call.renegotiate("customer", await customer.offer()))
    await asyncio.sleep(0.6)
    # The agent does not receive video yet: the gateway is told, so it can ask for an offer.
    assert any(e.type == "video_available" and e.party == "customer" for _, e in harness.events)
    assert call.media == "video"

    agent.add_video(PlainVideoTrack(176, 144))
    await agent.accept(await call.renegotiate("agent", await agent.offer()))
    both = time.monotonic()
    await asyncio.sleep(1.2)

    to_agent = agent.frames("video", both)
    to_customer = customer.frames("video", both + 0.3)
    assert {(f.width, f.height) for f in to_agent} == {(352, 288)}
    assert len(to_agent) >= 8
    # Before the agent had video the customer saw the slate; then the agent's picture.
    assert (320, 240) in {(f.width, f.height) for f in customer.frames("video", upgraded, both)}
    assert {(f.width, f.height) for f in to_customer} == {(176, 144)}
    assert len(to_customer) >= 8
    # Audio went on through both renegotiations.
    assert_tone(levels(customer, both + 0.2, time.monotonic()), 880.0)

    call.hold()
    held = time.monotonic()
    await asyncio.sleep(0.6)
    assert (320, 240) in {(f.width, f.height) for f in customer.frames("video", held + 0.2)}
    stats = call.stats()["legs"]
    assert stats["customer"]["in"]["video"]["frames"] > 10
    assert stats["agent"]["out"]["video"]["frames"] > 10


@bounded(20)
async def test_a_customer_hanging_up_ends_the_call_and_an_agent_hanging_up_requeues(
    harness: Harness,
) -> None:
    call = harness.call()
    customer = await harness.customer(call, 440.0)
    agent = await harness.agent(call, "agent-a", 880.0)
    await agent.pc.close()
    await until(lambda: call.agent_id is None)
    assert [e.type for _, e in harness.events][-1] == "agent_lost"
    assert call.state == "queued"
    assert_tone(levels(customer, *await heard_between(customer, 0.6)), QUEUE_TONE)

    await customer.pc.close()
    await until(lambda: bool(harness.ended))
    assert harness.ended[0].reason == "customer_closed"
    assert call.ended
    assert call.call_id not in harness.calls


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def peer_connections() -> Iterator[RTCPeerConnection]:
    return (o for o in gc.get_objects() if isinstance(o, RTCPeerConnection))


@bounded(60)
async def test_fifty_calls_leave_no_connection_task_or_descriptor_behind(
    assets: CallAssets,
) -> None:
    async def one_call(harness: Harness) -> None:
        call = harness.call()
        customer = await harness.customer(call, 440.0)
        await harness.agent(call, "agent", 880.0)
        await until(lambda: len(customer.received["audio"]) >= 5)
        await call.end()
        await harness.close()

    # One call first: a process opens some descriptors once (aiortc's codecs, the
    # default executor's threads) and keeps them.
    await one_call(Harness(assets))
    await asyncio.sleep(0.2)
    gc.collect()
    fds, threads = open_fds(), threading.active_count()
    began = time.monotonic()
    for _ in range(50):
        await one_call(Harness(assets))
    elapsed = time.monotonic() - began
    await asyncio.sleep(0.3)
    gc.collect()
    print(f"\n50 calls in {elapsed:.1f} s; fds {fds} -> {open_fds()}")

    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []
    assert list(peer_connections()) == []
    assert open_fds() <= fds + 2
    assert threading.active_count() <= threads + 1


@bounded(15)
async def test_an_agent_whose_media_never_flows_is_given_up_and_end_cancels_the_wait(
    assets: CallAssets,
) -> None:
    events: list[CallEvent] = []
    call = Call(
        "call-x", "conv-x", ice=LOOPBACK, assets=assets, on_event=events.append, connect_timeout=0.5
    )
    customer = LoopbackClient(audio=SineTrack(440.0))
    silent = LoopbackClient(audio=SineTrack(880.0))
    late = LoopbackClient(audio=SineTrack(660.0))
    try:
        await customer.accept(await call.connect_customer(await customer.offer()))
        # The agent's browser never gets the answer: no media ever arrives.
        await call.connect_agent("agent-a", await silent.offer())
        assert call.stats()["legs"]["agent_incoming"]["participant"] == "agent-a"
        await until(lambda: bool(events))
        assert [(e.type, e.agent_id, e.reason) for e in events] == [
            ("agent_failed", "agent-a", "timeout")
        ]
        assert call.state == "queued"
        assert set(call.stats()["legs"]) == {"customer"}

        await call.transfer_to("agent-b", await late.offer())
        assert call.stats()["tasks"] == 1
        summary = await call.end()
        assert call.stats()["tasks"] == 0
        assert summary.agents == ()
        clients = {id(c.pc) for c in (customer, silent, late)}
        servers = [pc for pc in peer_connections() if id(pc) not in clients]
        assert servers and all(pc.connectionState == "closed" for pc in servers)
    finally:
        for client in (customer, silent, late):
            await client.close()
