"""One call's digital human, without the network: a stand-in call records what the customer
is given, a loop takes the voice's audio as the customer's track would, and the fake
speech pair speaks and hears."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.digital_human import DigitalHumanSession, Lines
from handoff.bot.banking_bot import BankingBot
from handoff.bot.knowledge import load_knowledge
from media.call import BotMedia
from media.speech.fake import FakeTextToSpeech
from media.speech.ports import Segment
from sessions import commands as c
from sessions.locks import LocalLocks
from sessions.memory_store import MemoryStore
from sessions.service import ConversationService, utc_now


class StandInCall:
    """What the session uses of a `media.call.Call`."""

    call_id = "call-1"

    def __init__(self, conversation_id: str) -> None:
        self.conversation_id = conversation_id
        self.ended = False
        self.given: list[BotMedia | None] = []

    def serve_with(self, bot: BotMedia | None) -> None:
        self.given.append(bot)


@pytest.fixture
async def world() -> AsyncIterator[tuple[DigitalHumanSession, ConversationService, str]]:
    service = ConversationService(MemoryStore(), LocalLocks())
    cid = (await service.start("alice", "chat", key="k")).conversation_id
    await service.execute(cid, c.StartCall("customer:alice", "call-1"), actor="customer:alice")
    await service.execute(cid, c.HandOver("system", "digital_human", "call"), actor="system")
    call = StandInCall(cid)
    session = DigitalHumanSession(
        call,  # type: ignore[arg-type]
        customer_id="alice",
        tts=FakeTextToSpeech(),
        bot=BankingBot(load_knowledge()),
        conversations=service,
        layers=None,
        fps=15.0,
        clock=utc_now,
    )
    heard = asyncio.ensure_future(_listen(session))
    yield session, service, cid
    heard.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await heard
    await session.close()


async def _listen(session: DigitalHumanSession) -> None:
    """The customer's track, four times as fast as a call's: one 20 ms chunk of the voice
    every 5 ms (the voice advances only as it is taken)."""
    while True:
        session.voice.next_chunk()
        await asyncio.sleep(0.005)


def final(text: str, n: int) -> Segment:
    return Segment("customer", text, 0.0, 1.0, True, n)


async def segments(service: ConversationService, cid: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in await service.history(cid) if e.type == "transcript.segment"]


async def eventually(condition: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        for _ in itertools.count():
            if await condition():
                return
            await asyncio.sleep(0.01)


async def test_it_greets_answers_and_hands_over_with_the_call_s_words(
    world: tuple[DigitalHumanSession, ConversationService, str],
) -> None:
    session, service, cid = world
    call = session.call
    session.heard(final("not heard before it serves", 1))
    session.serve()
    assert call.given == [session.media]  # type: ignore[attr-defined]

    async def greeted() -> bool:
        return [s["text"] for s in await segments(service, cid)] == [
            Lines.disclosure,
            Lines.greeting,
        ]

    await eventually(greeted)
    session.heard(final("what are the fees for an international transfer", 2))

    async def answered() -> bool:
        return len(await segments(service, cid)) == 3

    await eventually(answered)
    assert (await segments(service, cid))[2]["speaker"] == "digital_human"
    session.heard(final("I want to talk to a person", 3))

    async def escalated() -> bool:
        state = await service.state(cid)
        return state is not None and state.handler == "queue"

    # Logged once its sentence has been said (the fake voice: 0.2 s a word).
    await eventually(escalated, 20)
    state = await service.state(cid)
    assert state is not None
    context = state.handoff_context
    assert context["reason"] == "customer_request"
    assert context["call"] == {"call_id": "call-1", "media": "audio"}
    said = [(line["speaker"], line["text"]) for line in context["transcript"]]
    assert said[:2] == [("digital_human", Lines.disclosure), ("digital_human", Lines.greeting)]
    assert ("customer", "I want to talk to a person") in said
    assert ("customer", "not heard before it serves") not in said
    assert "International transfer fees" in context["summary"]

    session.step_aside()
    assert call.given[-1] is None  # type: ignore[attr-defined]
    assert not session.voice.speaking
    session.heard(final("said to the agent", 4))
    session.serve()
    assert call.given[-1] is session.media  # type: ignore[attr-defined]

    async def back() -> bool:
        return (await segments(service, cid))[-1]["text"] == Lines.back

    await eventually(back)
    texts = [s["text"] for s in await segments(service, cid)]
    assert "said to the agent" not in " ".join(texts)


async def test_a_barge_in_stops_the_greeting_but_not_the_disclosure(
    world: tuple[DigitalHumanSession, ConversationService, str],
) -> None:
    session, _, _ = world
    session.serve()
    await asyncio.sleep(0.05)
    session.speech_started(0.04)
    current = session.voice.current
    assert current is not None and current.text == Lines.disclosure, "it plays to its end"
    # The greeting waiting behind it is dropped: the customer is already talking.
    assert [b.stopped for b in session.bot.barge_ins] == [(Lines.greeting,)]
    assert await current == "finished"
    assert not session.voice.speaking
    assert [line.interrupted for line in session.bot.transcript] == [False, True]


def test_without_speech_engines_the_digital_human_says_why_it_is_off() -> None:
    from gateway.digital_human import DigitalHumans
    from gateway.speech import SpeechRuntime

    def humans(enabled: bool, speech: SpeechRuntime | None) -> DigitalHumans:
        return DigitalHumans(
            enabled=enabled,
            speech=speech,
            bot=BankingBot(load_knowledge()),
            conversations=ConversationService(MemoryStore(), LocalLocks()),
            clock=utc_now,
        )

    off = humans(True, SpeechRuntime(None, transcribe=False)).unavailable()
    assert off is not None and "speech extra" in off
    assert "calls_first" in (humans(False, None).unavailable() or "")
    assert not humans(True, None).listen(StandInCall("c"))  # type: ignore[arg-type]
