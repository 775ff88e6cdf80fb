"""Live transcription of a call over real aiortc peers, with the fake speech pair.

The customer's microphone plays what the fake voice says (its words are tones); the
server's `CallTranscriber` decodes the customer's forwarded audio and feeds the fake
recogniser, which runs the real streaming logic (endpoints, partials, finals).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from media.speech.fake import FakeSpeechToText, FakeTextToSpeech
from media.speech.ports import Segment
from media.testing import Microphone
from media.transcription import CallTranscriber
from tests.integration.test_media_call import Harness, assets, bounded, until

__all__ = ["assets"]  # the module-scoped fixture, shared with test_media_call


async def speak(mic: Microphone, tts: FakeTextToSpeech, text: str) -> None:
    async for chunk in tts.synthesize(text):
        mic.play(chunk.pcm)


@pytest.fixture
async def harness(assets) -> AsyncIterator[Harness]:  # type: ignore[no-untyped-def]
    made = Harness(assets)
    try:
        yield made
    finally:
        async with asyncio.timeout(10):
            await made.close()


@bounded(30)
async def test_both_parties_are_transcribed_with_partials_before_finals(
    harness: Harness,
) -> None:
    stt = FakeSpeechToText()
    tts = FakeTextToSpeech(stt.air)
    heard: list[tuple[str, Segment]] = []

    async def keep(speaker: str, segment: Segment) -> None:
        heard.append((speaker, segment))

    call = harness.call()
    customer_mic, agent_mic = Microphone(), Microphone()
    customer = harness.client()
    customer.pc.addTrack(customer_mic)
    await customer.accept(await call.connect_customer(await customer.offer()))
    agent = harness.client()
    agent.pc.addTrack(agent_mic)
    await agent.accept(await call.connect_agent("anna", await agent.offer()))
    await harness.serving(call, "anna")
    transcriber = CallTranscriber(call, stt, keep)
    transcriber.start()

    await speak(customer_mic, tts, "i want to freeze my card")
    await until(lambda: any(s.is_final for _, s in heard), 10)
    await speak(agent_mic, tts, "of course let me help")
    await until(lambda: sum(s.is_final for _, s in heard) == 2, 10)

    finals = [(who, s.text) for who, s in heard if s.is_final]
    assert finals == [
        ("customer", "i want to freeze my card"),
        ("agent:anna", "of course let me help"),
    ]
    customer_segments = [s for who, s in heard if who == "customer"]
    assert customer_segments[-1].is_final
    assert any(not s.is_final for s in customer_segments), "partials come while speaking"
    final = customer_segments[-1]
    assert 0 <= final.start < final.end
    await transcriber.stop()
    assert set(transcriber.speakers) == set()


@bounded(30)
async def test_a_held_call_is_not_transcribed_and_the_last_words_survive_the_hangup(
    harness: Harness,
) -> None:
    stt = FakeSpeechToText()
    tts = FakeTextToSpeech(stt.air)
    heard: list[tuple[str, Segment]] = []

    async def keep(speaker: str, segment: Segment) -> None:
        heard.append((speaker, segment))

    call = harness.call()
    mic = Microphone()
    customer = harness.client()
    customer.pc.addTrack(mic)
    await customer.accept(await call.connect_customer(await customer.offer()))
    agent = harness.client()
    agent.pc.addTrack(Microphone())  # silent
    await agent.accept(await call.connect_agent("anna", await agent.offer()))
    await harness.serving(call, "anna")
    transcriber = CallTranscriber(call, stt, keep)
    transcriber.start()

    call.hold()
    await speak(mic, tts, "nobody hears this")
    await asyncio.sleep(1.6)
    assert heard == []
    stt.air.clear()
    call.unhold()
    await asyncio.sleep(0.2)
    await speak(mic, tts, "thanks bye")
    await asyncio.sleep(0.5)  # still speaking when the call ends
    await call.end("hangup")
    await until(lambda: any(s.is_final for _, s in heard), 5)
    assert [(who, s.text) for who, s in heard if s.is_final] == [("customer", "thanks bye")]
