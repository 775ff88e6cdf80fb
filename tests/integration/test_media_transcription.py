"""Live transcription of a call over real aiortc peers, with the fake speech pair.

The customer's microphone plays what the fake voice says (its words are tones); the
server's `CallTranscriber` decodes the customer's forwarded audio and feeds the fake
recogniser, which runs the real streaming logic (endpoints, partials, finals).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import AsyncIterator

import av
import pytest
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

from media.speech.fake import FakeSpeechToText, FakeTextToSpeech
from media.speech.ports import FRAME_SAMPLES, SAMPLE_RATE, Segment
from media.transcription import CallTranscriber
from tests.integration.test_media_call import Harness, assets, bounded, until

__all__ = ["assets"]  # the module-scoped fixture, shared with test_media_call


class Microphone(AudioStreamTrack):
    """Live-paced 20 ms frames: `say()`'s audio when there is some, silence otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self._queue: list[bytes] = []
        self._index = 0
        self._began: float | None = None

    async def say(self, tts: FakeTextToSpeech, text: str) -> None:
        async for chunk in tts.synthesize(text):
            self._queue.append(chunk.pcm)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._began is None:
            self._began = time.monotonic()
        delay = self._began + self._index * FRAME_SAMPLES / SAMPLE_RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        pcm = self._queue.pop(0) if self._queue else bytes(2 * FRAME_SAMPLES)
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(pcm)
        frame.pts = self._index * FRAME_SAMPLES
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._index += 1
        return frame


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

    await customer_mic.say(tts, "i want to freeze my card")
    await until(lambda: any(s.is_final for _, s in heard), 10)
    await agent_mic.say(tts, "of course let me help")
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
    await mic.say(tts, "nobody hears this")
    await asyncio.sleep(1.6)
    assert heard == []
    stt.air.clear()
    call.unhold()
    await asyncio.sleep(0.2)
    await mic.say(tts, "thanks bye")
    await asyncio.sleep(0.5)  # still speaking when the call ends
    await call.end("hangup")
    await until(lambda: any(s.is_final for _, s in heard), 5)
    assert [(who, s.text) for who, s in heard if s.is_final] == [("customer", "thanks bye")]
