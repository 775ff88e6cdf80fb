"""Calls through the real server: socket.io signaling, aiortc peers for the browsers.

Each browser is a `media.testing.LoopbackClient` (an aiortc peer on 127.0.0.1, no STUN)
sending a sine: the customer 440 Hz, Anna 880 Hz, Ben 660 Hz. What a peer hears is
checked by the share of power at each tone (Goertzel over 100 ms blocks); the server's
hold/queue audio is its default chime (523 Hz and 659 Hz notes, then silence).

Tones are measured after the fact from the frames each client kept: the pure-Python
detector would otherwise stall the event loop the server's media runs on.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import itertools
import math
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCPeerConnection

from media.testing import (
    LoopbackClient,
    Microphone,
    PlainVideoTrack,
    SineTrack,
    heard_from,
    mono_samples,
    tone_level,
)
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import DEFAULT_TIMEOUT, Client, RunningServer, hand_to_agent

CUSTOMER, ANNA, BEN = 440.0, 880.0, 660.0
CHIME = (523.25, 659.25)
TONES = (CUSTOMER, ANNA, BEN, *CHIME)
# A receiving aiortc peer plays what arrives ~100 ms late (its jitter buffer): windows
# checking what is heard after a change start this much after it.
SETTLE = 0.3
CALL_EVENTS = ("call.incoming", "call.ended", "call.left", "call.video_available")


def listen(client: Client, *names: str) -> None:
    """Record these server events too (the harness records the chat ones)."""
    for name in names:

        def record(data: Any = None, name: str = name) -> None:
            client.received.append((name, data))
            client._changed.set()

        client.sio.on(name, record, namespace=client.namespace)


class Browsers:
    """The test's aiortc peers, all closed at the end."""

    def __init__(self) -> None:
        self.made: list[LoopbackClient] = []

    def __call__(self, tone: float | None = None) -> LoopbackClient:
        peer = LoopbackClient(audio=SineTrack(tone) if tone is not None else None)
        self.made.append(peer)
        return peer

    async def close(self) -> None:
        for peer in self.made:
            await peer.close()


@pytest.fixture
async def browsers() -> AsyncIterator[Browsers]:
    made = Browsers()
    yield made
    await made.close()


@pytest.fixture
async def server(server_factory: ServerFactory, tmp_path: Path) -> RunningServer:
    # Larger packets than the default 64 KiB, so an oversized SDP reaches the schema.
    return await server_factory(recordings_dir=tmp_path / "recordings", max_packet_bytes=262_144)


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never came true")
        await asyncio.sleep(0.02)


def ok(ack: dict[str, Any]) -> dict[str, Any]:
    assert ack["ok"], ack
    return ack


async def start_call(customer: Client, cid: str, peer: LoopbackClient) -> dict[str, Any]:
    ack = ok(
        await customer.call(
            "call.start",
            {
                "key": uuid.uuid4().hex,
                "conversation_id": cid,
                "media": "audio",
                "sdp": await peer.offer(),
            },
        )
    )
    await peer.accept(ack["sdp"])
    return ack


@dataclass
class DigitalHumanCall:
    cid: str
    call_id: str
    microphone: Microphone  # what the customer says
    peer: LoopbackClient  # the customer's peer connection
    session: Any  # the server's digital human on this call
    began: float  # monotonic, just before call.start


async def call_the_digital_human(
    server: RunningServer,
    customer: Client,
    peers: list[LoopbackClient],
    *,
    answered_within: float = DEFAULT_TIMEOUT,
    greeted_within: float,
) -> DigitalHumanCall:
    """`customer` opens a conversation and calls on it with a microphone; the digital human
    answers (within `answered_within`) and has said its disclosure and greeting (within
    `greeted_within`) when this returns."""
    cid = str((await customer.command("conversation.start"))["conversation_id"])
    await customer.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")
    microphone = Microphone()
    peer = LoopbackClient(audio=microphone)
    peers.append(peer)
    began = time.monotonic()
    call_id = str((await start_call(customer, cid, peer))["call_id"])
    await customer.wait_event(
        cid, lambda e: e["data"].get("to") == "digital_human", answered_within
    )
    humans = server.services.signaling.digital_humans
    assert humans is not None
    session = humans.session(call_id)
    assert session is not None
    await until(lambda: not session.voice.speaking, greeted_within)
    return DigitalHumanCall(cid, call_id, microphone, peer, session, began)


async def answer(agent: Client, call_id: str, peer: LoopbackClient) -> dict[str, Any]:
    ack = ok(
        await agent.call(
            "call.answer", {"key": uuid.uuid4().hex, "call_id": call_id, "sdp": await peer.offer()}
        )
    )
    await peer.accept(ack["sdp"])
    return ack


def blocks(peer: LoopbackClient, start: float, end: float) -> list[Any]:
    samples = mono_samples(peer.frames("audio", start, end))
    assert len(samples) > 0.5 * 48_000 * (end - start), "too little audio arrived"
    return [samples[i : i + 4800] for i in range(0, len(samples) - 4799, 4800)]


def levels(peer: LoopbackClient, start: float, end: float) -> dict[float, float]:
    """Each tone's median share of the power over 100 ms blocks."""
    chunks = blocks(peer, start, end)
    return {f: round(statistics.median(tone_level(b, f) for b in chunks), 3) for f in TONES}


def assert_hears(peer: LoopbackClient, window: tuple[float, float], tone: float) -> None:
    heard = levels(peer, *window)
    assert heard[tone] > 0.7, heard
    assert all(level < 0.05 for f, level in heard.items() if abs(f - tone) > 5), heard


def assert_chime(peer: LoopbackClient, window: tuple[float, float]) -> None:
    """The hold/queue chime: its notes come and go; no party's steady tone."""
    chunks = blocks(peer, *window)
    assert max(max(tone_level(b, note) for note in CHIME) for b in chunks) > 0.5
    for tone in (CUSTOMER, ANNA):
        assert statistics.median(tone_level(b, tone) for b in chunks) < 0.05, tone


def rms(peer: LoopbackClient, window: tuple[float, float]) -> float:
    samples = mono_samples(peer.frames("audio", *window))
    return math.sqrt(sum(x * x for x in samples) / max(1, len(samples)))


async def window(seconds: float) -> tuple[float, float]:
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return start + SETTLE, time.monotonic()


def server_peers(browsers: Browsers) -> list[RTCPeerConnection]:
    gc.collect()
    mine = {id(peer.pc) for peer in browsers.made}
    return [o for o in gc.get_objects() if isinstance(o, RTCPeerConnection) and id(o) not in mine]


async def call_log(server: RunningServer, cid: str) -> list[tuple[str, dict[str, Any]]]:
    history = await server.services.conversations.history(cid)
    return [
        (e.type, dict(e.data))
        for e in history
        if e.type.startswith(("call.", "recording."))
        or (e.type.startswith("channel.") and e.data["channel"] == "call")
    ]


async def download(server: RunningServer, path: str, token: str) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as http, http.get(server.url + path, headers=headers) as r:
        return r.status, await r.read()


async def talking(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> tuple[Client, Client, str, str, LoopbackClient, LoopbackClient]:
    """Alice in a conversation served by Anna, in an answered audio call, Anna heard."""
    alice = await server.client("alice")
    anna = await server.client("anna")
    clients += [alice, anna]
    listen(anna, *CALL_EVENTS)
    listen(alice, *CALL_EVENTS)
    cid = await hand_to_agent(alice, anna)
    customer, agent = browsers(CUSTOMER), browsers(ANNA)
    call_id = (await start_call(alice, cid, customer))["call_id"]
    await anna.wait_for("call.incoming")
    await answer(anna, call_id, agent)
    await heard_from(customer, ANNA, 0)
    return alice, anna, cid, call_id, customer, agent


# ------------------------------------------------------------------------- tests


async def test_talk_hold_transfer_and_hang_up(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    async with asyncio.timeout(40):
        alice = await server.client("alice")
        anna = await server.client("anna")
        ben = await server.client("ben")
        clients += [alice, anna, ben]
        for client in (alice, anna, ben):
            listen(client, *CALL_EVENTS)
        cid = await hand_to_agent(alice, anna)

        customer = browsers(CUSTOMER)
        asked = time.monotonic()
        started = await start_call(alice, cid, customer)
        call_id = started["call_id"]
        queue_heard = await heard_from(customer, CHIME[0], asked)
        incoming = await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        assert incoming["conversation_id"] == cid and incoming["media"] == "audio"
        assert incoming["customer"] == {"id": "alice", "name": "Alice Martin"}

        anna_pc = browsers(ANNA)
        answered_at = time.monotonic()
        answered = await answer(anna, call_id, anna_pc)
        assert answered["seq"] > started["seq"]
        anna_heard = await heard_from(customer, ANNA, answered_at)
        # Anna's load: a call takes her whole capacity (3 slots).
        presence = server.services.router.presence_of("anna")
        assert presence is not None and presence.load == 3
        talking = await window(1.0)

        ok(await anna.call("call.hold", {"call_id": call_id}))
        held = await window(1.4)
        ok(await anna.call("call.unhold", {"call_id": call_id}))
        resumed = await window(0.8)

        # Transfer to Ben: Anna talks on until Ben's media flows, then drops off; the
        # customer's peer connection is never renegotiated.
        pc = customer.pc
        before = (customer.offers, list(customer.signaling), pc.remoteDescription.sdp)
        ben_pc = browsers(BEN)
        moved = ok(
            await anna.call(
                "call.transfer", {"key": "t1", "call_id": call_id, "to_agent": "ben", "note": "FX"}
            )
        )
        assert moved["call_id"] == call_id and moved["seq"]
        rung = await ben.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        assert rung["context"]["note"] == "FX"
        assert rung["context"]["call"] == {"call_id": call_id, "media": "audio"}
        transfer_at = time.monotonic()
        await answer(ben, call_id, ben_pc)
        ben_heard = await heard_from(customer, BEN, transfer_at)
        left = await anna.wait_for("call.left", lambda c: c["call_id"] == call_id)
        assert left["reason"] == "transferred"
        after_transfer = await window(0.8)
        assert (customer.offers, list(customer.signaling), pc.remoteDescription.sdp) == before
        await until(lambda: anna_pc.pc.connectionState == "closed")

        hung = ok(await alice.call("call.hangup", {"call_id": call_id}))
        assert hung["reason"] == "customer_hangup" and hung["seq"]
        for client in (alice, ben):
            ended = await client.wait_for("call.ended", lambda c: c["call_id"] == call_id)
            assert ended["reason"] == "customer_hangup"

        # Every peer connection is gone, on the server and (told by DTLS) at the browsers.
        assert len(server.services.calls) == 0
        assert all(p.connectionState == "closed" for p in server_peers(browsers))
        await until(lambda: all(b.pc.connectionState == "closed" for b in browsers.made))
        presence = server.services.router.presence_of("ben")
        assert presence is not None and presence.load == 1

    # What was heard, measured now that the media has stopped.
    assert_hears(customer, talking, ANNA)
    assert_hears(anna_pc, talking, CUSTOMER)
    assert_chime(customer, held)
    assert rms(anna_pc, held) < 50, "Anna hears silence while the customer is held"
    assert_hears(customer, resumed, ANNA)
    assert_hears(customer, after_transfer, BEN)
    assert_hears(ben_pc, after_transfer, CUSTOMER)
    arrivals = customer.arrivals("audio", transfer_at - 0.5)
    arrivals = [t for t in arrivals if t < ben_heard + 0.5]
    gap = max(b - a for a, b in itertools.pairwise(arrivals))
    print(
        f"\ncall: queue audio {1000 * (queue_heard - asked):.0f} ms after call.start; "
        f"agent heard {1000 * (anna_heard - answered_at):.0f} ms after call.answer; "
        f"transfer: new agent heard {1000 * (ben_heard - transfer_at):.0f} ms after "
        f"call.answer, largest gap at the customer {1000 * gap:.0f} ms"
    )
    assert gap < 0.15

    log = await call_log(server, cid)
    assert [t for t, _ in log] == [
        "channel.opened",
        "call.started",
        "call.answered",
        "call.held",
        "call.resumed",
        "call.transferred",
        "call.answered",
        "call.ended",
        "channel.closed",
    ]
    data = dict(log)
    assert data["call.started"] == {"call_id": call_id, "media": "audio", "by": "customer:alice"}
    assert data["call.transferred"] == {"call_id": call_id, "from": "agent:anna", "to": "agent:ben"}
    assert [d["agent"] for t, d in log if t == "call.answered"] == ["anna", "ben"]
    end = data["call.ended"]
    assert end["reason"] == "customer_hangup"
    assert end["duration_seconds"] > end["talk_seconds"] + end["held_seconds"]
    assert end["talk_seconds"] > 2.0
    assert 1.2 < end["held_seconds"] < 3.0
    assert hung["duration_seconds"] == end["duration_seconds"]


async def test_recording_with_consent_is_logged_and_downloaded_by_staff_only(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    async with asyncio.timeout(25):
        alice, anna, cid, call_id, _customer, _agent = await talking(server, clients, browsers)

        refused = await anna.call(
            "call.record", {"key": "r0", "call_id": call_id, "consent": False}
        )
        assert (
            refused["error"]["code"] == "invalid_payload"
            and "consent" in refused["error"]["message"]
        )
        recording = ok(
            await anna.call("call.record", {"key": "r1", "call_id": call_id, "consent": True})
        )
        again = await anna.call("call.record", {"key": "r2", "call_id": call_id, "consent": True})
        assert again["error"]["code"] == "invalid_state"
        await asyncio.sleep(1.5)
        hung = ok(await anna.call("call.hangup", {"call_id": call_id}))
        assert hung["reason"] == "agent_hangup"
        await alice.wait_for("call.ended", lambda c: c["call_id"] == call_id)

        log = await call_log(server, cid)
        assert [t for t, _ in log] == [
            "channel.opened",
            "call.started",
            "call.answered",
            "recording.started",
            "recording.saved",
            "call.ended",
            "channel.closed",
        ]
        assert dict(log)["recording.started"] == {"call_id": call_id, "consent": True}
        saved = dict(log)["recording.saved"]
        assert recording["seq"] < hung["seq"]
        assert "/" not in saved["path"] and saved["path"].endswith(".mka")
        assert 1.0 < saved["duration_seconds"] < 3.0

        route = f"/api/v1/conversations/{cid}/recordings/{call_id}"
        tokens = {n: (await server.login(n))["token"] for n in ("anna", "sara", "alice", "ben")}
        status, body = await download(server, route, tokens["anna"])
        assert status == 200 and len(body) == saved["size_bytes"]
        assert hashlib.sha256(body).hexdigest() == saved["sha256"]
        assert (await download(server, route, tokens["sara"]))[0] == 200  # a supervisor
        assert (await download(server, route, tokens["alice"]))[0] == 403  # the customer
        assert (await download(server, route, tokens["ben"]))[0] == 403  # never served it
        unknown = f"/api/v1/conversations/{cid}/recordings/call-nope"
        assert (await download(server, unknown, tokens["anna"]))[0] == 404
        assert (
            await download(
                server, f"/api/v1/conversations/c-x/recordings/{call_id}", tokens["sara"]
            )
        )[0] == 404
        assert (await download(server, route, "not-a-token"))[0] == 401

    # The file plays: two Opus streams, the customer's 440 Hz and Anna's 880 Hz.
    path = server.services.settings.recordings_dir / saved["path"]
    heard: dict[str, float] = {}
    for index, tone in enumerate((CUSTOMER, ANNA)):
        with av.open(str(path)) as container:
            assert len(container.streams.audio) == 2
            title = container.streams.audio[index].metadata.get("title", "")
            # Decoded as float planar stereo: resample to what the tone detector reads.
            resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
            frames = [f for raw in container.decode(audio=index) for f in resampler.resample(raw)]
        assert title == ("customer audio", "agent audio")[index]
        heard[title] = round(tone_level(mono_samples(frames[10:]), tone), 2)
    assert all(level > 0.5 for level in heard.values()), heard


async def test_a_call_while_the_bot_serves_is_queued_then_answered_then_handed_back(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    async with asyncio.timeout(30):
        alice = await server.client("alice")
        anna = await server.client("anna")
        clients += [alice, anna]
        listen(anna, *CALL_EVENTS)
        listen(alice, *CALL_EVENTS)
        cid = str((await alice.command("conversation.start"))["conversation_id"])
        await alice.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")

        customer = browsers(CUSTOMER)
        call_id = (await start_call(alice, cid, customer))["call_id"]
        await alice.wait_event(cid, lambda e: e["data"].get("to") == "queue")
        await alice.wait_for("queue.position", lambda p: p["conversation_id"] == cid)
        queued = await window(1.5)
        ok(await anna.call("presence.set", {"status": "ready"}))
        offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
        assert offer["context"]["call"] == {"call_id": call_id, "media": "audio"}
        ok(await anna.command("offer.accept", offer_id=offer["offer_id"]))
        await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)

        agent = browsers(ANNA)
        answered_at = time.monotonic()
        await answer(anna, call_id, agent)
        await heard_from(customer, ANNA, answered_at)
        talking = await window(0.8)

        # Back to the bot: Anna's leg drops, the call goes on with the queue audio.
        ok(await anna.command("conversation.handback", conversation_id=cid))
        left = await anna.wait_for("call.left", lambda c: c["call_id"] == call_id)
        assert left["reason"] == "handback"
        await until(lambda: agent.pc.connectionState == "closed")
        waiting = await window(1.2)
        presence = server.services.router.presence_of("anna")
        assert presence is not None and presence.load == 0

        # The customer closes the page: the call ends by itself, logged with its times.
        await customer.pc.close()
        ended = await alice.wait_for("call.ended", lambda c: c["call_id"] == call_id, 10)
        assert ended["reason"] == "customer_closed"
        assert len(server.services.calls) == 0

    assert_chime(customer, queued)
    assert_hears(customer, talking, ANNA)
    assert_hears(agent, talking, CUSTOMER)
    assert_chime(customer, waiting)
    log = await call_log(server, cid)
    assert [t for t, _ in log] == [
        "channel.opened",
        "call.started",
        "call.answered",
        "call.transferred",
        "call.ended",
        "channel.closed",
    ]
    assert dict(log)["call.transferred"]["to"] == "bot"
    end = dict(log)["call.ended"]
    assert end["reason"] == "customer_closed" and end["talk_seconds"] > 0.5


async def test_upgrade_to_video_by_renegotiation(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    async with asyncio.timeout(25):
        alice, anna, cid, call_id, customer, agent = await talking(server, clients, browsers)

        customer.add_video(PlainVideoTrack(352, 288, fps=10))
        upgraded = ok(
            await alice.call(
                "call.renegotiate", {"call_id": call_id, "sdp": await customer.offer()}
            )
        )
        await customer.accept(upgraded["sdp"])
        assert upgraded["seq"]
        # Anna is asked to offer again, now with video.
        available = await anna.wait_for("call.video_available", lambda c: c["call_id"] == call_id)
        assert available["from"] == "customer"
        agent.add_video(PlainVideoTrack(176, 144, fps=10))
        both = ok(
            await anna.call("call.renegotiate", {"call_id": call_id, "sdp": await agent.offer()})
        )
        await agent.accept(both["sdp"])
        assert "seq" not in both  # the call was upgraded already
        since = time.monotonic()
        await until(
            lambda: (
                len(agent.frames("video", since)) >= 5
                and len(customer.frames("video", since + 0.5)) >= 5
            ),
            8,
        )
        stop = time.monotonic()
        # Closing the conversation ends its call (logged just after the close).
        ok(await anna.command("conversation.close", conversation_id=cid))
        ended = await alice.wait_for("call.ended", lambda c: c["call_id"] == call_id)
        assert ended["reason"] == "conversation_closed"
        await until(lambda: len(server.services.calls) == 0)

    # (Until the first keyframe of the other party's video arrives, each sees the slate.)
    assert {(f.width, f.height) for f in agent.frames("video", since + 0.5, stop)} == {(352, 288)}
    assert {(f.width, f.height) for f in customer.frames("video", since + 0.5, stop)} == {
        (176, 144)
    }
    log = await call_log(server, cid)
    assert ("call.upgraded", {"call_id": call_id, "media": "video"}) in log
    history = await server.services.conversations.history(cid)
    assert [e.type for e in history][-2:] == ["conversation.closed", "call.ended"]
    assert history[-1].data["reason"] == "conversation_closed"


async def test_call_commands_refuse_bad_input_clearly(
    server: RunningServer, clients: list[Client], browsers: Browsers
) -> None:
    async with asyncio.timeout(25):
        alice = await server.client("alice")
        bob = await server.client("bob")
        anna = await server.client("anna")
        ben = await server.client("ben")
        clients += [alice, bob, anna, ben]
        cid = await hand_to_agent(alice, anna)
        sdp = await browsers(CUSTOMER).offer()

        async def code(client: Client, event: str, payload: Any) -> str:
            ack = await client.call(event, payload)
            assert not ack["ok"], ack
            assert ack["error"]["message"], ack
            return str(ack["error"]["code"])

        start = {"key": "s", "conversation_id": cid}
        assert await code(alice, "call.start", start) == "invalid_payload"  # no sdp
        assert await code(alice, "call.start", {**start, "sdp": 5}) == "invalid_payload"
        huge = sdp + "a=x-padding:" + "x" * 100_000 + "\r\n"
        assert await code(alice, "call.start", {**start, "sdp": huge}) == "invalid_payload"
        assert await code(alice, "call.start", {**start, "sdp": "hello"}) == "invalid_payload"
        garbled = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n"
        assert await code(alice, "call.start", {**start, "sdp": garbled}) == "invalid_payload"
        assert await code(alice, "call.start", {**start, "sdp": sdp, "media": "fax"}) == (
            "invalid_payload"
        )
        assert await code(bob, "call.start", {**start, "sdp": sdp}) == "not_found"
        assert await code(anna, "call.start", {**start, "sdp": sdp}) == "unknown_event"
        assert len(server.services.calls) == 0, "refused offers leave no call behind"

        customer = browsers(CUSTOMER)
        offer = {**start, "sdp": await customer.offer()}
        first = ok(await alice.call("call.start", offer))
        await customer.accept(first["sdp"])
        call_id = first["call_id"]
        assert await alice.call("call.start", offer) == first  # a retry: the same answer
        second = await code(
            alice, "call.start", {**start, "key": "s2", "sdp": await browsers(CUSTOMER).offer()}
        )
        assert second == "invalid_state"
        assert len(server.services.calls) == 1

        agent_sdp = await browsers(ANNA).offer()
        answer_ = {"key": "a", "call_id": call_id}
        assert await code(anna, "call.answer", answer_) == "invalid_payload"  # no sdp
        assert (
            await code(anna, "call.answer", {**answer_, "call_id": "call-nope", "sdp": agent_sdp})
            == "not_found"
        )
        elsewhere = "call-00000000-0123456789abcdef0123"
        assert (
            await code(anna, "call.answer", {**answer_, "call_id": elsewhere, "sdp": agent_sdp})
            == "wrong_node"
        )
        assert await code(ben, "call.answer", {**answer_, "sdp": agent_sdp}) == "forbidden"
        assert await code(anna, "call.hold", {"call_id": call_id}) == "invalid_state"  # unanswered
        assert (
            await code(anna, "call.record", {"key": "r", "call_id": call_id, "consent": True})
            == "invalid_state"
        )
        assert await code(bob, "call.hangup", {"call_id": call_id}) == "not_found"
        assert await code(ben, "call.hangup", {"call_id": call_id}) == "forbidden"
        assert await code(bob, "call.mute", {"call_id": call_id, "muted": True}) == "not_found"
        assert (
            await code(alice, "call.mute", {"call_id": call_id, "muted": "yes"})
            == "invalid_payload"
        )
        assert (
            await code(anna, "call.transfer", {"key": "t", "call_id": call_id}) == "invalid_payload"
        )
        assert (
            await code(ben, "call.transfer", {"key": "t", "call_id": call_id, "to_queue": "x"})
            == "forbidden"
        )
        assert await code(alice, "call.hold", {"call_id": call_id}) == "unknown_event"
        assert (
            await code(alice, "call.renegotiate", {"call_id": call_id, "sdp": garbled})
            == "invalid_payload"
        )

        ok(await alice.call("call.mute", {"call_id": call_id, "muted": True}))
        hung = ok(await alice.call("call.hangup", {"call_id": call_id}))
        assert hung["seq"]
        assert await code(alice, "call.hangup", {"call_id": call_id}) == "not_found"
        assert len(server.services.calls) == 0

        # Media addresses outside the allowed networks are dropped before aiortc sees them.
        outside = (await browsers(CUSTOMER).offer()).replace(" 127.0.0.1 ", " 192.0.2.7 ")
        assert outside.count("192.0.2.7") > 0
        policed = ok(await alice.call("call.start", {**start, "key": "s3", "sdp": outside}))
        leg = server.services.calls[policed["call_id"]].stats()["legs"]["customer"]
        assert leg["dropped_candidates"] == outside.count("a=candidate:")
        ok(await alice.call("call.hangup", {"call_id": policed["call_id"]}))


async def test_calls_can_be_switched_off(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(calls_enabled=False)
    alice = await server.client("alice")
    clients.append(alice)
    cid = str((await alice.command("conversation.start"))["conversation_id"])
    ack = await alice.call("call.start", {"key": "k", "conversation_id": cid, "sdp": "v=0\r\n"})
    assert ack["error"]["code"] == "calls_disabled"
