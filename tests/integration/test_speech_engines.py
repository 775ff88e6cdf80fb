"""The real engines: the Piper voice speaks, Whisper listens, espeak-ng stands in.

Needs the `speech` extra and the espeak-ng program: without them these tests skip with a
loud reason locally, and fail under CI=true.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Iterator

import numpy as np
import pytest

from media.speech.config import SpeechConfig
from media.speech.espeak import EspeakTextToSpeech
from media.speech.factory import Speech, build_speech
from media.speech.phonemizer import EspeakPhonemizer
from media.speech.ports import FRAME_SAMPLES, SAMPLE_RATE, AudioChunk, Segment, TextToSpeech
from media.speech.wer import word_error_rate
from tests.banking_sentences import SENTENCES
from tests.conftest import unavailable

SILENCE = AudioChunk(bytes(FRAME_SAMPLES * 2))
# The audio goes in faster than real time to keep the test short (the benchmark feeds it
# in real time and measures latency).
SPEED_UP = 2.0


@pytest.fixture(scope="module")
def speech() -> Iterator[Speech]:
    engines = build_speech(SpeechConfig(stt_threads=2, tts_threads=1))
    if engines.stt is None or engines.tts is None or engines.tts.name != "piper":
        unavailable("the speech engines", RuntimeError("; ".join(engines.status)))
    yield engines
    asyncio.run(engines.aclose())


async def say(tts: TextToSpeech, text: str) -> list[AudioChunk]:
    async with contextlib.aclosing(tts.synthesize(text)) as audio:
        return [chunk async for chunk in audio]


def rms(chunks: list[AudioChunk]) -> float:
    samples = np.frombuffer(b"".join(c.pcm for c in chunks), np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) / 32768


async def test_whisper_understands_the_piper_voice(speech: Speech) -> None:
    assert speech.stt is not None and speech.tts is not None
    clips = [await say(speech.tts, sentence) for sentence in SENTENCES]
    for clip in clips:
        assert all(c.sample_rate == SAMPLE_RATE and c.samples == FRAME_SAMPLES for c in clip)
        assert 0.8 < len(clip) * 0.02 < 5 and rms(clip) > 0.02

    stream = speech.stt.open_stream("customer")

    async def feed() -> None:
        audio = [SILENCE] * 25
        for clip in clips:
            audio += clip + [SILENCE] * 40
        for i, chunk in enumerate(audio):
            stream.push(chunk)
            if i % 10 == 9:
                await asyncio.sleep(0.2 / SPEED_UP)
        stream.close()

    feeder = asyncio.create_task(feed())
    segments: list[Segment] = []
    async with asyncio.timeout(40):
        async for segment in stream:
            segments.append(segment)
    await feeder

    finals = [s for s in segments if s.is_final]
    heard = " ".join(f.text for f in finals)
    wer = word_error_rate([" ".join(SENTENCES)], [heard])
    print(f"WER {wer:.3f}: {heard}")
    assert wer <= 0.2, heard
    assert len(finals) == len(SENTENCES), [f.text for f in finals]
    with_partials = 0
    for final in finals:
        partials = [s for s in segments if s.utterance == final.utterance and not s.is_final]
        assert all(segments.index(p) < segments.index(final) for p in partials)
        with_partials += bool(partials)
        assert 0 <= final.start < final.end
    # Faster than real time on a busy machine, a short sentence can be over before the
    # engine is free for a partial: most have one.
    assert with_partials >= 8, [s.text for s in segments]
    assert [f.start for f in finals] == sorted(f.start for f in finals)


async def test_cancelling_the_piper_voice_stops_it_within_100_ms(speech: Speech) -> None:
    tts = speech.tts
    assert tts is not None
    answer = (
        "An international transfer costs five pounds. It usually arrives within two working "
        "days, and you can follow it in the app. Transfers in euros are free of charge."
    )
    received: list[float] = []
    mid_sentence = asyncio.Event()

    async def play() -> None:
        async for _ in tts.synthesize(answer):
            received.append(time.perf_counter())
            if len(received) == 25:  # half a second in
                mid_sentence.set()
            await asyncio.sleep(0.02)  # a track sends a frame every 20 ms

    player = asyncio.create_task(play())
    await mid_sentence.wait()
    cancelled = time.perf_counter()
    player.cancel()
    with pytest.raises(asyncio.CancelledError):
        await player
    assert time.perf_counter() - cancelled < 0.1
    count = len(received)
    await asyncio.sleep(0.3)
    assert len(received) == count and received[-1] - cancelled < 0.1

    # Closing the generator is the other way to stop, just as quick.
    audio = tts.synthesize(answer)
    await anext(audio)
    started = time.perf_counter()
    await audio.aclose()
    assert time.perf_counter() - started < 0.1


def need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng", FileNotFoundError("apt-get install espeak-ng"))


def test_the_phonemizer_keeps_lines_apart_and_survives_a_crash() -> None:
    need_espeak()
    phonemizer = EspeakPhonemizer()
    try:
        # espeak-ng splits the second line itself; the answer stays one string per line.
        assert phonemizer.phonemes(["freeze my card", "hello (there) — world", "", "25"]) == [
            "fɹˈiːz maɪ kˈɑːɹd",
            "həlˈoʊ ðˈɛɹ wˈɜːld",
            "",
            "twˈɛnti fˈaɪv",
        ]
        process = phonemizer._process
        assert process is not None
        process.kill()
        process.wait()
        assert phonemizer.phonemes(["my card"]) == ["maɪ kˈɑːɹd"]
    finally:
        phonemizer.close()


async def test_espeak_fallback_speaks_48_khz() -> None:
    need_espeak()
    tts = EspeakTextToSpeech()
    chunks = await say(tts, "What is my account balance? I lost my card yesterday.")
    assert all(c.sample_rate == SAMPLE_RATE and c.samples == FRAME_SAMPLES for c in chunks)
    assert 1.5 < len(chunks) * 0.02 < 8 and rms(chunks) > 0.02
