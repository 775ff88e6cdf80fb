"""The fake speech pair, and the streaming logic every speech-to-text engine shares."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator

import numpy as np
import numpy.typing as npt
import pytest

from media.speech.fake import (
    WORD_SECONDS,
    EnergyDetector,
    FakeSpeechToText,
    FakeTextToSpeech,
    fake_pair,
)
from media.speech.ports import FRAME_SAMPLES, SAMPLE_RATE, AudioChunk, Segment
from media.speech.stream import Kind, StreamSettings, TranscribingStream

SILENCE = AudioChunk(bytes(FRAME_SAMPLES * 2))


async def spoken(tts: FakeTextToSpeech, text: str) -> list[AudioChunk]:
    async with contextlib.aclosing(tts.synthesize(text)) as audio:
        return [chunk async for chunk in audio]


def silence(seconds: float) -> list[AudioChunk]:
    return [SILENCE] * round(seconds / 0.02)


async def transcript(
    stream: TranscribingStream, chunks: list[AudioChunk], *, close: bool = True
) -> list[Segment]:
    for chunk in chunks:
        stream.push(chunk)
        await asyncio.sleep(0)
    if close:
        stream.close()
    async with asyncio.timeout(5):
        return [segment async for segment in stream]


async def test_fake_tts_says_each_word_in_20_ms_chunks_at_48_khz() -> None:
    tts = FakeTextToSpeech()
    chunks = await spoken(tts, "freeze my card")
    assert all(c.sample_rate == SAMPLE_RATE and c.samples == FRAME_SAMPLES for c in chunks)
    assert len(chunks) * 0.02 == pytest.approx(3 * WORD_SECONDS)
    assert tts.spoken == ["freeze my card"]
    assert list(tts.air) == ["freeze my card"]
    assert await spoken(tts, "   ") == []


async def test_what_the_fake_tts_says_the_fake_stt_hears_partials_first() -> None:
    stt, tts = fake_pair()
    words = "what are the fees for an international transfer"
    stream = stt.open_stream("customer")
    segments = await transcript(stream, [*silence(0.5), *await spoken(tts, words), *silence(1)])

    *partials, final = segments
    assert final.is_final and final.text == words and final.speaker == "customer"
    assert partials and not any(p.is_final for p in partials)
    assert all(words.startswith(p.text) for p in partials)
    assert [len(p.text) for p in partials] == sorted(len(p.text) for p in partials)
    assert {s.utterance for s in segments} == {1}
    assert final.start == pytest.approx(0.5, abs=0.03)
    assert final.end == pytest.approx(0.5 + 8 * WORD_SECONDS - 0.04, abs=0.03)
    assert not stt.air


async def test_two_utterances_two_finals_in_order() -> None:
    stt, tts = fake_pair()
    stream = stt.open_stream("customer")
    audio = [
        *silence(0.3),
        *await spoken(tts, "i lost my card"),
        *silence(0.8),
        *await spoken(tts, "freeze it please"),
        *silence(0.8),
    ]
    finals = [s for s in await transcript(stream, audio) if s.is_final]
    assert [(f.utterance, f.text) for f in finals] == [
        (1, "i lost my card"),
        (2, "freeze it please"),
    ]
    assert finals[0].end < finals[1].start


async def test_close_finalises_the_utterance_in_progress() -> None:
    stt, tts = fake_pair()
    stream = stt.open_stream("customer")
    segments = await transcript(
        stream, [*silence(0.2), *await spoken(tts, "my card has not arrived")]
    )
    assert segments[-1].is_final and segments[-1].text == "my card has not arrived"


async def test_silence_and_clicks_give_no_segments() -> None:
    stt = FakeSpeechToText(unknown="???")
    stream = stt.open_stream("customer")
    click = AudioChunk((np.full(FRAME_SAMPLES, 8000, np.int16)).tobytes())
    assert await transcript(stream, [*silence(0.5), click, *silence(1)]) == []


async def test_unscripted_speech_gets_the_unknown_text() -> None:
    stt = FakeSpeechToText(unknown="(speech)")
    stream = stt.open_stream("agent")
    segments = await transcript(
        stream, [*await spoken(FakeTextToSpeech(), "hello there"), *silence(1)]
    )
    assert [(s.text, s.is_final) for s in segments][-1] == ("(speech)", True)


async def test_aclose_ends_the_iteration_at_once() -> None:
    stt, tts = fake_pair()
    stream = stt.open_stream("customer")
    for chunk in await spoken(tts, "i want to talk to a person"):
        stream.push(chunk)
    await stream.aclose()
    async with asyncio.timeout(1):
        assert [s async for s in stream if s.is_final] == []


async def test_audio_at_16_khz_is_taken_as_is() -> None:
    stt, tts = fake_pair()
    stream = stt.open_stream("customer")
    chunks = [*silence(0.3), *await spoken(tts, "what is my balance"), *silence(0.8)]
    low = [AudioChunk(np.frombuffer(c.pcm, np.int16)[::3].tobytes(), 16_000) for c in chunks]
    finals = [s for s in await transcript(stream, low) if s.is_final]
    assert [f.text for f in finals] == ["what is my balance"]


async def test_cancelling_the_consumer_stops_the_fake_tts() -> None:
    tts = FakeTextToSpeech()
    received: list[AudioChunk] = []

    async def play() -> None:
        async for chunk in tts.synthesize("a long answer " * 20):
            received.append(chunk)
            await asyncio.sleep(0.001)

    task = asyncio.create_task(play())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    count = len(received)
    await asyncio.sleep(0.05)
    assert 0 < count == len(received) < 20 * 3 * 10


class Recording:
    """A transcriber that says how much audio it saw, and remembers each call."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[tuple[float, Kind]] = []
        self._delay = delay
        self._fail = fail

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, utterance: int, kind: Kind
    ) -> str:
        self.calls.append((audio.size / 16_000, kind))
        await asyncio.sleep(self._delay)
        if self._fail:
            raise RuntimeError("engine down")
        return f"{audio.size / 16_000:.2f} s"


def tone(seconds: float) -> list[AudioChunk]:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    samples = (0.3 * 32767 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    return [
        AudioChunk(samples[i : i + FRAME_SAMPLES].tobytes())
        for i in range(0, samples.size, FRAME_SAMPLES)
    ]


async def realtime(stream: TranscribingStream, chunks: list[AudioChunk]) -> AsyncIterator[Segment]:
    async def feed() -> None:
        for chunk in chunks:
            stream.push(chunk)
            await asyncio.sleep(0.002)
        stream.close()

    feeder = asyncio.create_task(feed())
    async for segment in stream:
        yield segment
    await feeder


async def test_the_transcription_at_the_pause_is_the_final() -> None:
    engine = Recording(delay=0.01)
    stream = TranscribingStream("customer", EnergyDetector(), engine, StreamSettings())
    segments = [s async for s in realtime(stream, [*silence(0.3), *tone(1.5), *silence(1)])]
    assert segments[-1].is_final
    # No "final" transcription: the one started at the pause was the whole utterance.
    assert [kind for _, kind in engine.calls if kind != "partial"] == ["settled"]
    # The utterance and its padding either side.
    assert float(segments[-1].text.split()[0]) == pytest.approx(1.5 + 2 * 0.2, abs=0.05)


async def test_speech_after_a_pause_is_transcribed_again_for_the_final() -> None:
    engine = Recording()
    settings = StreamSettings()
    stream = TranscribingStream("customer", EnergyDetector(), engine, settings)
    audio = [*tone(0.6), *silence(0.25), *tone(0.6), *silence(1)]
    segments = [s async for s in realtime(stream, audio)]
    finals = [s for s in segments if s.is_final]
    assert len(finals) == 1 and finals[0].end == pytest.approx(1.45, abs=0.03)
    assert segments.index(finals[0]) == len(segments) - 1


async def test_partials_of_a_long_utterance_come_every_interval() -> None:
    engine = Recording()
    stream = TranscribingStream(
        "customer", EnergyDetector(), engine, StreamSettings(partial_interval=0.5)
    )
    segments = [s async for s in realtime(stream, [*tone(3.0), *silence(1)])]
    # The last partial is the transcription started at the pause.
    partial_ends = sorted({s.end for s in segments if not s.is_final})
    assert len(partial_ends) >= 5
    assert all(b - a == pytest.approx(0.5, abs=0.05) for a, b in itertools.pairwise(partial_ends))


async def test_an_engine_failure_is_raised_by_the_iteration() -> None:
    stream = TranscribingStream("customer", EnergyDetector(), Recording(fail=True))

    async def consume() -> None:
        async with asyncio.timeout(5):
            async for _ in realtime(stream, [*tone(1.0), *silence(1)]):
                pass

    with pytest.raises(RuntimeError, match="engine down"):
        await consume()
