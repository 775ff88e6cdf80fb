"""The voice bot over the fake speech pair, in real time: turns, barge-in, disclosures.

The customer's microphone pushes 20 ms of audio every 20 ms into a real transcribing
stream (the fake's energy detector and script); the bot's voice is played live by a
task standing in for the call's sender. Barge-in delay is measured from the customer's
first loud chunk to the bot's first silent frame after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np

from media.digital_human.voice import VoiceOutput
from media.digital_human.voice_bot import FALLBACK, Brain, VoiceBot, VoiceReply
from media.speech.fake import FakeTextToSpeech, fake_pair
from media.speech.ports import FRAME_SAMPLES, AudioChunk, Segment, SttStream

SILENCE = AudioChunk(bytes(2 * FRAME_SAMPLES))
LONG_ANSWER = " ".join(["balance"] * 50)  # ten seconds


class Microphone:
    """The customer: silence, or what they say, one chunk per 20 ms, on a fixed schedule."""

    def __init__(self, stream: SttStream, tts: FakeTextToSpeech) -> None:
        self._stream = stream
        self._tts = tts
        self._queue: deque[tuple[AudioChunk, asyncio.Future[float] | None]] = deque()
        self._task = asyncio.create_task(self._run())

    async def say(self, text: str) -> float:
        """Queue `text`; returns when its first chunk is pushed, with that time."""
        chunks = [c async for c in self._tts.synthesize(text)]
        started: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._queue.append((chunks[0], started))
        self._queue.extend((chunk, None) for chunk in chunks[1:])
        return await started

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        began = time.monotonic()
        index = 0
        while True:
            chunk, started = self._queue.popleft() if self._queue else (SILENCE, None)
            self._stream.push(chunk)
            if started is not None:
                started.set_result(time.monotonic())
            index += 1
            await asyncio.sleep(max(0.0, began + index * 0.02 - time.monotonic()))


class Speaker:
    """The call's sender: plays the bot's voice live, noting when each frame sounded."""

    def __init__(self, voice: VoiceOutput) -> None:
        self._voice = voice
        self.frames: list[tuple[float, bool]] = []
        self._task = asyncio.create_task(self._run())

    def stopped_after(self, moment: float, window: float) -> float:
        """When the voice fell silent after `moment`: the end of its last sounding frame
        within `window` (the fake's words have 40 ms gaps, so a silent frame alone does
        not mean it stopped)."""
        sounding = [t for t, s in self.frames if s and moment < t < moment + window]
        return sounding[-1] + 0.02 if sounding else moment

    def sounding_since(self, moment: float) -> int:
        return sum(sounding for t, sounding in self.frames if t > moment)

    async def until_sounding(self, timeout: float = 5.0) -> float:
        async with asyncio.timeout(timeout):
            while True:
                if self.frames and self.frames[-1][1]:
                    return self.frames[-1][0]
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            frame = await self._voice.recv()
            self.frames.append((time.monotonic(), bool(np.abs(frame.to_ndarray()).max() > 3000)))


class ScriptedBrain:
    def __init__(self, answers: dict[str, str | VoiceReply], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.asked: list[str] = []

    async def answer(self, text: str) -> str | VoiceReply:
        self.asked.append(text)
        await asyncio.sleep(self.delay)
        return self.answers.get(text, "I did not get that")


class Call:
    """The parts of one voice-bot call, started and stopped together."""

    def __init__(
        self,
        brain: Brain,
        *,
        hide_onsets: bool = False,
        fallback: str = FALLBACK,
        on_handoff: Callable[[VoiceReply], None] | None = None,
    ) -> None:
        customer_stt, customer_tts = fake_pair()
        stream: SttStream = customer_stt.open_stream("customer")
        if hide_onsets:
            stream = WithoutOnsets(stream)
        self.voice = VoiceOutput(FakeTextToSpeech())  # the bot's own voice, its own air
        self.bot = VoiceBot(stream, self.voice, brain, fallback=fallback, on_handoff=on_handoff)
        self.microphone = Microphone(stream, customer_tts)
        self.speaker = Speaker(self.voice)
        self._stream = stream
        self._run = asyncio.create_task(self.bot.run())

    async def close(self) -> None:
        await self.microphone.close()
        await self.speaker.close()
        await self._stream.aclose()
        await asyncio.wait_for(self._run, 2)
        await self.voice.aclose()


@contextlib.asynccontextmanager
async def call(brain: Brain, **options: Any) -> AsyncIterator[Call]:
    parts = Call(brain, **options)
    try:
        yield parts
    finally:
        await parts.close()


class WithoutOnsets:
    """A stream that does not report speech starts (an engine without the hook)."""

    def __init__(self, inner: SttStream) -> None:
        self._inner = inner
        self.speaker = inner.speaker

    def push(self, chunk: AudioChunk) -> None:
        self._inner.push(chunk)

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> AsyncIterator[Segment]:
        return aiter(self._inner)


def said(parts: Call, text: str) -> bool:
    return any(line.speaker == "bot" and line.text == text for line in parts.bot.transcript)


async def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {timeout} s")


async def test_customer_speech_during_a_long_answer_stops_it_within_300_ms() -> None:
    brain = ScriptedBrain({"what is my balance": LONG_ANSWER, "stop please": "Of course."})
    async with call(brain) as parts:
        await parts.microphone.say("what is my balance")
        await parts.speaker.until_sounding()
        await asyncio.sleep(0.6)  # well into the answer
        spoke_at = await parts.microphone.say("stop please")
        await wait_for(lambda: len(parts.bot.barge_ins) == 1, 1.0)
        await asyncio.sleep(0.4)  # the customer is still speaking: nothing is said
        silent_at = parts.speaker.stopped_after(spoke_at, 0.4)
        delay = silent_at - spoke_at
        assert delay < 0.3, delay
        assert parts.speaker.sounding_since(silent_at) == 0
        barge_in = parts.bot.barge_ins[0]
        assert barge_in.stopped == (LONG_ANSWER,)
        assert barge_in.detected_after <= 0.06
        await wait_for(lambda: len(parts.bot.transcript) == 4)
        detected = barge_in.detected_after
        print(f"barge-in delay {delay * 1000:.0f} ms (detected after {detected * 1000:.0f} ms)")
    lines = [(line.speaker, line.text, line.interrupted) for line in parts.bot.transcript]
    assert lines == [
        ("customer", "what is my balance", False),
        ("bot", LONG_ANSWER, True),
        ("customer", "stop please", False),
        ("bot", "Of course.", False),
    ]
    assert brain.asked == ["what is my balance", "stop please"]


async def test_a_disclosure_plays_through_barge_in_and_the_answer_after_it_is_dropped() -> None:
    disclosure = "calls are recorded to protect your account and our staff"
    brain = ScriptedBrain(
        {"open an account": VoiceReply("here is how to open one today", disclosure=disclosure)}
    )
    async with call(brain) as parts:
        await parts.microphone.say("open an account")
        began = await parts.speaker.until_sounding()
        await asyncio.sleep(0.4)
        await parts.microphone.say("hello there")
        await wait_for(lambda: parts.bot.transcript[-1].interrupted, 1.0)
        playing = parts.voice.current
        assert playing is not None and playing.text == disclosure
        assert await asyncio.wait_for(playing, 3.0) == "finished"
        assert playing.ended_at is not None
        # All ten words of the disclosure were heard: 8 sounding frames each.
        heard = [t for t, s in parts.speaker.frames if s and began <= t <= playing.ended_at]
        assert len(heard) == 10 * 8
        assert parts.bot.barge_ins[0].stopped == ("here is how to open one today",)
    said = [(line.text, line.interrupted) for line in parts.bot.transcript if line.speaker == "bot"]
    assert said[:2] == [(disclosure, False), ("here is how to open one today", True)]


async def test_what_the_customer_adds_while_the_brain_thinks_is_answered_together() -> None:
    brain = ScriptedBrain({"i lost my card yes please": "I have blocked it."}, delay=1.0)
    async with call(brain) as parts:
        await parts.microphone.say("i lost my card")
        await asyncio.sleep(0.8 + 0.5)  # the words, then a pause: its final is out
        assert brain.asked == ["i lost my card"]
        await parts.microphone.say("yes please")
        await wait_for(lambda: said(parts, "I have blocked it."), 5.0)
        assert parts.bot.superseded == 1
    assert brain.asked == ["i lost my card", "i lost my card yes please"]
    assert [line.text for line in parts.bot.transcript if line.speaker == "bot"] == [
        "I have blocked it."
    ]


async def test_a_handoff_is_asked_for_once_the_answer_is_said() -> None:
    handoffs: list[tuple[float, VoiceReply]] = []
    reply = VoiceReply("let me find a colleague", handoff=True)
    brain = ScriptedBrain({"a person please": reply})
    async with call(brain, on_handoff=lambda r: handoffs.append((time.monotonic(), r))) as parts:
        await parts.microphone.say("a person please")
        await parts.speaker.until_sounding()
        assert handoffs == []
        await wait_for(lambda: bool(handoffs), 3.0)
        last_sound = max(t for t, sounding in parts.speaker.frames if sounding)
        assert handoffs[0][1] is reply and handoffs[0][0] >= last_sound


async def test_a_failing_brain_says_the_fallback() -> None:
    class Broken:
        async def answer(self, text: str) -> str:
            raise RuntimeError("no brain today")

    async with call(Broken(), fallback="Sorry, say again?") as parts:
        await parts.microphone.say("hello there")
        await wait_for(lambda: said(parts, "Sorry, say again?"), 3.0)


async def test_a_stream_without_speech_start_barges_in_on_the_first_partial() -> None:
    brain = ScriptedBrain({"what is my balance": LONG_ANSWER})
    async with call(brain, hide_onsets=True) as parts:
        await parts.microphone.say("what is my balance")
        await parts.speaker.until_sounding()
        spoke_at = await parts.microphone.say("stop it now please")
        await wait_for(lambda: bool(parts.bot.barge_ins), 2.0)
        delay = parts.speaker.stopped_after(spoke_at, 0.9) - spoke_at
        # Later than with speech-start news: the fake's first partial needs 0.4 s.
        assert 0.3 < delay < 0.8, delay


async def test_the_stream_tells_when_speech_starts_before_any_words() -> None:
    stt, tts = fake_pair()
    stream = stt.open_stream("customer")
    onsets: list[tuple[float, int]] = []
    segments: list[Segment] = []

    def broken(heard: float) -> None:
        raise RuntimeError("a listener's bug")

    stream.on_speech_start(broken)  # logged, and the stream goes on
    stream.on_speech_start(lambda heard: onsets.append((heard, len(segments))))

    async def collect() -> None:
        async for segment in stream:
            segments.append(segment)

    collecting = asyncio.create_task(collect())
    for text in ("first thing here", "second thing here"):
        words = [c async for c in tts.synthesize(text)]
        for chunk in [SILENCE] * 10 + words + [SILENCE] * 30:
            stream.push(chunk)
            await asyncio.sleep(0.002)
    stream.close()
    await asyncio.wait_for(collecting, 5)
    assert [s.text for s in segments if s.is_final] == ["first thing here", "second thing here"]
    assert len(onsets) == 2
    # Each came with at most a few chunks of the utterance heard, before its partials.
    assert all(0 < heard <= 0.1 for heard, _ in onsets)
    first_partial = next(i for i, s in enumerate(segments) if s.utterance == 2)
    assert onsets[1][1] <= first_partial
