"""Calls the digital human answers, through the real server: its voice, its brain (the chat
bot), barge-in, the handover to an agent and back, on one customer peer connection.

The speech is the fake pair (each word a 160 ms tone of 440 Hz; the server's recogniser
"hears" what the customer's own fake voice put on its air), so these run in seconds; the
test with Piper and Whisper is `test_digital_human_speech_e2e.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from media.digital_human.config import AvatarConfig, build_avatar
from media.speech.factory import Speech
from media.speech.fake import FakeSpeechToText, FakeTextToSpeech
from media.testing import (
    LoopbackClient,
    Microphone,
    PlainVideoTrack,
    SineTrack,
    heard_from,
    mono_samples,
    tone_level,
)
from tests.avatar_measure import correlation, mouth_and_energy
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer, hand_to_agent
from tests.e2e.test_calls import (
    CALL_EVENTS,
    answer,
    call_the_digital_human,
    listen,
    ok,
    start_call,
    until,
)

VOICE, ANNA = 440.0, 880.0  # the fake voice's tone, the agent's
# What the digital human says after its greeting on the video call, with pauses between.
SHORT_LINES = ["Of course.", "One moment please.", "Done."]
PAUSE = 0.6


@pytest.fixture
async def air(
    server_factory: ServerFactory,
) -> AsyncIterator[tuple[RunningServer, FakeTextToSpeech]]:
    """A server whose digital human answers calls, and the customer's fake voice: what
    it says, the server's recogniser hears."""
    stt = FakeSpeechToText()
    server = await server_factory(
        transcripts=True,
        calls_first="digital_human",
        speech_engines=Speech(stt, FakeTextToSpeech(), ("fake speech",)),
    )
    return server, FakeTextToSpeech(stt.air)


async def speech(voice: FakeTextToSpeech, text: str) -> bytes:
    async with contextlib.aclosing(voice.synthesize(text)) as audio:
        return b"".join([chunk.pcm async for chunk in audio])


def voiced(peer: LoopbackClient, tone: float, start: float, end: float) -> list[tuple[float, bool]]:
    """(arrival, whether the 20 ms frame carries `tone`) for the frames in [start, end)."""
    return [
        (at, tone_level(mono_samples([frame]), tone) > 0.3)
        for at, frame in peer.received["audio"]
        if start <= at < end
    ]


def fell_silent(peer: LoopbackClient, tone: float, since: float) -> float:
    """When `tone` stopped after `since`: the first of 5 frames in a row without it (the
    fake voice's pauses between words are 2 frames)."""
    frames = voiced(peer, tone, since, float("inf"))
    for i in range(len(frames) - 4):
        if not any(v for _, v in frames[i : i + 5]):
            return frames[i][0]
    raise AssertionError(f"{tone} Hz never stopped")


def largest_gap(peer: LoopbackClient, start: float, end: float) -> float:
    arrivals = peer.arrivals("audio", start)
    arrivals = [t for t in arrivals if t < end]
    return max(b - a for a, b in itertools.pairwise(arrivals))


async def log_of(server: RunningServer, cid: str) -> list[tuple[str, str, dict[str, Any]]]:
    history = await server.services.conversations.history(cid)
    return [(e.type, e.actor, dict(e.data)) for e in history]


async def test_the_digital_human_answers_hands_over_to_an_agent_and_takes_the_call_back(
    air: tuple[RunningServer, FakeTextToSpeech],
    clients: list[Client],
    peers: list[LoopbackClient],
) -> None:
    server, voice = air
    async with asyncio.timeout(40):
        alice, anna = await server.client("alice"), await server.client("anna")
        clients += [alice, anna]
        listen(anna, *CALL_EVENTS)
        listen(alice, *CALL_EVENTS)
        ok(await anna.call("presence.set", {"status": "ready"}))
        call = await call_the_digital_human(server, alice, peers, greeted_within=8)
        cid, call_id, microphone, customer = call.cid, call.call_id, call.microphone, call.peer
        began = call.began
        greeted = await heard_from(customer, VOICE, began)

        # A question: the customer's words are logged, the digital human answers aloud.
        microphone.play(await speech(voice, "what are the fees for an international transfer"))
        asked = time.monotonic()
        answer = await alice.wait_event(
            cid,
            lambda e: (
                e["type"] == "transcript.segment"
                and e["data"]["speaker"] == "digital_human"
                and "fee" in e["data"]["text"].lower()
            ),
            10,
        )
        answer_heard = await heard_from(customer, VOICE, asked + 1.4)

        # Barge-in: "talk to a person" while the long answer plays.
        await asyncio.sleep(1.0)
        barged = time.monotonic()
        microphone.play(await speech(voice, "I want to talk to a person"))
        offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid, 15)
        stopped = fell_silent(customer, VOICE, barged)
        context = offer["context"]
        said = [(line["speaker"], line["text"]) for line in context["transcript"]]
        assert ("customer", "what are the fees for an international transfer") in said
        assert ("customer", "I want to talk to a person") in said
        assert any(s == "digital_human" and "fee" in t.lower() for s, t in said)
        assert "person" in context["summary"] and context["reason"] == "customer_request"
        assert context["call"] == {"call_id": call_id, "media": "audio"}

        # The agent answers with an 880 Hz microphone: the customer hears them.
        ok(await anna.command("offer.accept", offer_id=offer["offer_id"]))
        incoming = await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        assert incoming["context"]["transcript"] == context["transcript"]
        assert incoming["context"]["summary"] == context["summary"]
        agent = LoopbackClient(audio=SineTrack(ANNA))
        peers.append(agent)
        answering = time.monotonic()
        ack = ok(
            await anna.call(
                "call.answer", {"key": "a1", "call_id": call_id, "sdp": await agent.offer()}
            )
        )
        await agent.accept(ack["sdp"])
        agent_heard = await heard_from(customer, ANNA, answering)
        await asyncio.sleep(0.6)

        # Handed back: the digital human's voice again, the agent's leg closes.
        handing = time.monotonic()
        ok(await anna.command("conversation.handback", conversation_id=cid, to="digital_human"))
        back_heard = await heard_from(customer, VOICE, handing)
        left = await anna.wait_for("call.left", lambda c: c["call_id"] == call_id)
        assert left["reason"] == "handback"
        await asyncio.sleep(0.6)
        ended_at = time.monotonic()
        signaling = list(customer.signaling)

        await customer.pc.close()
        await alice.wait_for("call.ended", lambda c: c["call_id"] == call_id, 10)
        await alice.wait_event(cid, lambda e: e["data"].get("reason") == "call_ended")

    # One customer peer connection throughout: one offer, never renegotiated.
    assert customer.offers == 1 and signaling == ["have-local-offer", "stable"]
    gap = largest_gap(customer, greeted, ended_at)
    assert gap < 0.25, gap
    assert all(not v for _, v in voiced(customer, VOICE, agent_heard + 0.2, handing))
    assert all(not v for _, v in voiced(customer, ANNA, back_heard + 0.3, ended_at))
    barge_in = stopped - barged
    assert barge_in < 0.6, barge_in
    print(
        f"\ndigital human first heard {greeted - began:.3f} s after call.start; "
        f"answer heard {answer_heard - asked:.3f} s after the question began; "
        f"barge-in: voice silent at the customer {barge_in * 1000:.0f} ms after they began "
        f"speaking; agent heard {(agent_heard - answering) * 1000:.0f} ms after call.answer; "
        f"digital human heard {(back_heard - handing) * 1000:.0f} ms after the handback; "
        f"largest gap between audio frames at the customer {gap * 1000:.0f} ms"
    )

    log = await log_of(server, cid)
    switches = [(d["from"], d["to"], d["reason"]) for t, _, d in log if t == "handler.changed"]
    assert switches == [
        ("none", "bot", "start"),
        ("bot", "digital_human", "call"),
        ("digital_human", "queue", "escalation"),
        ("queue", "agent:anna", "assigned"),
        ("agent:anna", "digital_human", "handback"),
        ("digital_human", "bot", "call_ended"),
    ]
    segments = [(d["speaker"], d["text"]) for t, _, d in log if t == "transcript.segment"]
    assert segments[0] == ("digital_human", "This call may be recorded.")
    assert ("customer", "what are the fees for an international transfer") in segments
    assert answer["data"]["text"] in [t for _, t in segments]
    assert segments[-1][0] == "digital_human" and segments[-1][1].startswith("I'm back")
    # Chat is the text bot's again, and it did not greet a customer it was just talking to.
    greetings = [d for t, a, d in log if t == "message.sent" and d.get("kind") == "greeting"]
    assert len(greetings) == 1


async def test_on_a_video_call_the_customer_sees_the_avatar_speak(
    air: tuple[RunningServer, FakeTextToSpeech],
    clients: list[Client],
    peers: list[LoopbackClient],
) -> None:
    """The avatar, not the waiting slate, and its mouth moves with its voice as the
    customer receives them: per picture, the mouth's darkness and the energy of the audio
    that arrived in the picture's interval go together (the disclosure and greeting, then
    short lines with pauses between)."""
    server, _ = air
    config = AvatarConfig.from_env()  # as the server's (gateway/app.py)
    layers, _ = await asyncio.to_thread(build_avatar, config)
    async with asyncio.timeout(20):
        alice = await server.client("alice")
        clients.append(alice)
        cid = str((await alice.command("conversation.start"))["conversation_id"])
        await alice.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")
        customer = LoopbackClient(audio=Microphone(), video=PlainVideoTrack())
        peers.append(customer)
        ack = ok(
            await alice.call(
                "call.start",
                {
                    "key": "v1",
                    "conversation_id": cid,
                    "media": "video",
                    "sdp": await customer.offer(),
                },
            )
        )
        await customer.accept(ack["sdp"])
        began = time.monotonic()
        greeted = await heard_from(customer, VOICE, began)
        dh = server.services.signaling.digital_humans
        assert dh is not None
        session = dh.session(ack["call_id"])
        assert session is not None
        await until(lambda: not session.voice.speaking, 8)  # disclosure and greeting
        # Short lines with pauses between: the mouth opens and closes again and again.
        for line in SHORT_LINES:
            await asyncio.sleep(PAUSE)
            assert await asyncio.wait_for(session.say(line), 5) == "finished"
        await asyncio.sleep(PAUSE)  # silent: the mouth closes
        ended = time.monotonic()
    pictures = customer.frames("video", greeted, ended)
    # The avatar (640x360, the default), not the waiting slate, at its frame rate.
    assert len(pictures) >= (ended - greeted) * config.fps * 0.7, len(pictures)
    assert {(p.width, p.height) for p in pictures} == {(640, 360)}
    audio, video = customer.received["audio"], customer.received["video"]
    mouths, energies = mouth_and_energy(audio, video, layers, greeted, ended, config.fps)
    r = correlation(mouths, energies)
    print(f"\nlip sync at the customer: mouth/energy r = {r:.3f} over {len(mouths)} pictures")
    # It spoke and fell silent, and the mouth was seen both open and closed.
    assert max(energies) > 0.03 and min(energies) < 0.003, (max(energies), min(energies))
    assert max(mouths) > 4 * (min(mouths) + 1), (max(mouths), min(mouths))
    assert r > 0.5, r


async def test_a_supervisor_hands_a_digital_human_call_to_a_person(
    air: tuple[RunningServer, FakeTextToSpeech],
    clients: list[Client],
    peers: list[LoopbackClient],
) -> None:
    server, voice = air
    async with asyncio.timeout(25):
        alice, anna = await server.client("alice"), await server.client("anna")
        sara = await server.client("sara")
        clients += [alice, anna, sara]
        listen(anna, *CALL_EVENTS)
        ok(await anna.call("presence.set", {"status": "ready"}))
        call = await call_the_digital_human(server, alice, peers, greeted_within=8)
        cid, call_id, microphone, customer = call.cid, call.call_id, call.microphone, call.peer
        session = call.session
        microphone.play(await speech(voice, "what are the fees for an international transfer"))
        await alice.wait_event(
            cid,
            lambda e: (
                e["type"] == "transcript.segment"
                and e["data"]["speaker"] == "digital_human"
                and "fee" in e["data"]["text"].lower()
            ),
            10,
        )

        snapshot = ok(await sara.call("queue.snapshot", {}))
        assert [c["call_id"] for c in snapshot["digital_human_calls"]] == [call_id]
        ok(
            await sara.command(
                "conversation.take_over", conversation_id=cid, note="Premium customer"
            )
        )
        offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid, 10)
        context = offer["context"]
        assert context["reason"] == "supervisor" and context["note"] == "Premium customer"
        assert "A supervisor handed it to a person." in context["summary"]
        said = [(line["speaker"], line["text"]) for line in context["transcript"]]
        assert ("customer", "what are the fees for an international transfer") in said
        assert context["call"] == {"call_id": call_id, "media": "audio"}
        # The customer waits with the queue audio: the digital human stepped aside.
        await until(lambda: not session.serving)
        snapshot = ok(await sara.call("queue.snapshot", {}))
        assert snapshot["digital_human_calls"] == []
        ok(await anna.command("offer.accept", offer_id=offer["offer_id"]))
        incoming = await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        assert incoming["context"]["summary"] == context["summary"]
        await customer.pc.close()
    log = await log_of(server, cid)
    escalations = [
        (a, d["to"]) for t, a, d in log if t == "handler.changed" and d["reason"] == "escalation"
    ]
    assert escalations == [("supervisor:sara", "queue")]


async def test_a_call_handed_back_to_the_bot_goes_on_with_the_digital_human(
    air: tuple[RunningServer, FakeTextToSpeech],
    clients: list[Client],
    peers: list[LoopbackClient],
) -> None:
    server, _ = air
    async with asyncio.timeout(25):
        alice, anna = await server.client("alice"), await server.client("anna")
        clients += [alice, anna]
        listen(anna, *CALL_EVENTS)
        cid = await hand_to_agent(alice, anna)
        customer = LoopbackClient(audio=Microphone())
        agent = LoopbackClient(audio=SineTrack(ANNA))
        peers += [customer, agent]
        call_id = (await start_call(alice, cid, customer))["call_id"]
        await anna.wait_for("call.incoming", lambda c: c["call_id"] == call_id)
        await answer(anna, call_id, agent)
        await heard_from(customer, ANNA, 0)
        handing = time.monotonic()
        ok(await anna.command("conversation.handback", conversation_id=cid))
        await heard_from(customer, VOICE, handing)
        await customer.pc.close()
        await alice.wait_event(cid, lambda e: e["data"].get("reason") == "call_ended")
    log = await log_of(server, cid)
    switches = [(d["from"], d["to"]) for t, _, d in log if t == "handler.changed"]
    assert switches[-3:] == [
        ("agent:anna", "bot"),
        ("bot", "digital_human"),
        ("digital_human", "bot"),
    ]
