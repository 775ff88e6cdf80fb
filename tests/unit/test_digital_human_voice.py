"""The digital human's voice: paced audio, utterances in order, barge-in, disclosures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from media.digital_human.lipsync import chunk_level
from media.digital_human.voice import VoiceOutput
from media.speech.fake import FakeTextToSpeech
from media.speech.ports import FRAME_SAMPLES, AudioChunk

CHUNKS_PER_WORD = 10  # the fake says a word in 200 ms


class WatchedTts:
    """The fake voice, noting when its generators are closed and able to fail."""

    name = "watched"

    def __init__(self, fail_on: str = "") -> None:
        self.inner = FakeTextToSpeech()
        self.closed: list[str] = []
        self.fail_on = fail_on

    async def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        try:
            async for chunk in self.inner.synthesize(text):
                if self.fail_on and self.fail_on in text:
                    raise RuntimeError("the engine broke")
                yield chunk
        finally:
            self.closed.append(text)

    async def aclose(self) -> None:
        return None


async def settle() -> None:
    """Let the synthesis tasks fill their buffers."""
    for _ in range(20):
        await asyncio.sleep(0)


async def play(voice: VoiceOutput, count: int) -> list[AudioChunk]:
    """`count` chunks as a player would take them, letting the engine work in between
    (without the real 20 ms waits)."""
    chunks = []
    for _ in range(count):
        chunks.append(voice.next_chunk())
        for _ in range(3):
            await asyncio.sleep(0)
    return chunks


def loud(chunk: AudioChunk) -> bool:
    return chunk_level(chunk.pcm) > 0.05


async def test_an_utterance_plays_its_words_then_silence() -> None:
    voice = VoiceOutput(WatchedTts())
    utterance = voice.say("your card is coming soon")
    await settle()
    chunks = await play(voice, 5 * CHUNKS_PER_WORD + 5)
    assert all(c.samples == FRAME_SAMPLES for c in chunks)
    pattern = [loud(c) for c in chunks]
    # Each word: 160 ms of tone then 40 ms of silence; then the voice is silent.
    assert pattern[:10] == [True] * 8 + [False] * 2
    assert sum(pattern) == 5 * 8 and not any(pattern[50:])
    assert await asyncio.wait_for(utterance, 1) == "finished"
    assert utterance.frames == 5 * CHUNKS_PER_WORD and utterance.underruns == 0
    assert not voice.speaking
    await voice.aclose()


async def test_utterances_follow_each_other_without_a_gap() -> None:
    voice = VoiceOutput(WatchedTts())
    first, second = voice.say("one two"), voice.say("three")
    await settle()
    chunks = await play(voice, 3 * CHUNKS_PER_WORD + 1)
    assert [loud(c) for c in chunks[20:28]] == [True] * 8
    assert first.outcome == "finished" and await second == "finished"
    await voice.aclose()


async def test_interrupt_stops_at_the_next_chunk_and_closes_the_engine() -> None:
    tts = WatchedTts()
    voice = VoiceOutput(tts)
    long = voice.say("word " * 40)
    later = voice.say("and more")
    await settle()
    assert all(loud(voice.next_chunk()) for _ in range(5))
    stopped = voice.interrupt()
    assert stopped == [long, later]
    assert not loud(voice.next_chunk())  # the very next 20 ms is silence
    assert long.outcome == "interrupted" and later.outcome == "interrupted"
    assert long.frames == 5
    await settle()
    assert tts.closed == ["word " * 40]  # "and more" was never started
    assert not voice.speaking
    assert all(not loud(voice.next_chunk()) for _ in range(20))
    # The voice goes on: a new utterance plays.
    after = voice.say("hello")
    await settle()
    assert loud(voice.next_chunk())
    assert after.outcome is None
    await voice.aclose()
    assert after.outcome == "interrupted"


async def test_a_disclosure_is_not_interrupted_but_what_follows_it_is() -> None:
    voice = VoiceOutput(WatchedTts())
    disclosure = voice.say("this call is recorded for your security", interruptible=False)
    answer = voice.say("your balance is high")
    await settle()
    for _ in range(3):
        voice.next_chunk()
    assert voice.interrupt() == [answer]
    played = await play(voice, 7 * CHUNKS_PER_WORD)
    assert await disclosure == "finished" and disclosure.frames == 7 * CHUNKS_PER_WORD
    assert answer.outcome == "interrupted" and answer.frames == 0
    assert sum(map(loud, played)) == 7 * 8 - 3
    await voice.aclose()


async def test_a_failing_engine_fails_its_utterance_only() -> None:
    voice = VoiceOutput(WatchedTts(fail_on="broken"))
    bad, good = voice.say("broken words"), voice.say("fine")
    played = await play(voice, 3)
    assert await bad == "failed"
    played += await play(voice, CHUNKS_PER_WORD + 2)
    assert sum(map(loud, played)) == 8
    assert await good == "finished"
    await voice.aclose()


async def test_the_mouth_follows_what_is_played_and_rests_when_unheard() -> None:
    voice = VoiceOutput(WatchedTts())
    voice.say("open")
    await settle()
    openness = []
    for _ in range(CHUNKS_PER_WORD):
        voice.next_chunk()
        openness.append(voice.mouth_openness)
    assert openness[2] > 0.9 and min(openness[2:8]) > 0.9
    # The 40 ms pause after the word: closing, more slowly than it opened.
    assert openness[7] > openness[8] > openness[9]
    assert openness[9] < 0.7
    assert voice.level == 0.0  # the last chunk was silence
    voice.say("again")
    await settle()
    voice.next_chunk()
    assert voice.mouth_openness > 0.4 and voice.level > 0.2
    await asyncio.sleep(0.1)  # nobody takes the audio: not heard, mouth closed
    assert voice.mouth_openness == 0.0 and voice.level == 0.0
    await voice.aclose()


async def test_empty_text_and_a_stopped_voice() -> None:
    voice = VoiceOutput(WatchedTts())
    assert await voice.say("   ") == "finished"
    pending = voice.say("never heard")
    await voice.aclose()
    assert pending.outcome == "interrupted"
    assert await voice.say("too late") == "interrupted"
    with pytest.raises(MediaStreamError):
        await voice.recv()


async def test_recv_is_paced_at_50_frames_a_second() -> None:
    voice = VoiceOutput(WatchedTts())
    voice.say("one two three four five")
    began = time.monotonic()
    frames = [await voice.recv() for _ in range(51)]
    elapsed = time.monotonic() - began
    assert 0.95 <= elapsed <= 1.2  # 50 intervals of 20 ms
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(51)]
    assert all(f.samples == FRAME_SAMPLES and f.sample_rate == 48_000 for f in frames)
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert np.abs(samples).max() > 5000  # the words are in the frames
    await voice.aclose()


async def test_interrupt_while_playing_live_stops_within_one_frame() -> None:
    voice = VoiceOutput(WatchedTts())
    voice.say("word " * 40)
    record: list[tuple[float, bool]] = []

    async def play() -> None:
        while True:
            frame = await voice.recv()
            record.append((time.monotonic(), bool(np.abs(frame.to_ndarray()).max() > 3000)))

    player = asyncio.create_task(play())
    await asyncio.sleep(0.5)
    interrupted_at = time.monotonic()
    voice.interrupt()
    await asyncio.sleep(0.3)
    player.cancel()
    await asyncio.gather(player, return_exceptions=True)
    sounding_after = [t for t, sounding in record if sounding and t > interrupted_at]
    assert sum(s for t, s in record if t <= interrupted_at) > 10
    assert len(sounding_after) == 0
    await voice.aclose()
