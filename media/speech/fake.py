"""A deterministic speech pair for fast tests of what is built on the ports.

`FakeTextToSpeech` says each word as a 160 ms tone followed by 40 ms of silence, and
tells what it said to a shared `deque` (the "air"). `FakeSpeechToText` finds speech by
its energy, runs the real streaming logic (`TranscribingStream`: endpoints, partials,
finals), and "recognises" each utterance as the next text on the air: a partial is as
many of its words as there were tones so far. The audio can go through anything that
keeps its loudness (an Opus call, a mixer) on the way. Leave half a second of silence
between two utterances, as people do, or they are heard as one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

import numpy as np
import numpy.typing as npt

from media.speech.endpoint import EndpointSettings
from media.speech.pcm import ChunkCutter
from media.speech.ports import SAMPLE_RATE, AudioChunk
from media.speech.stream import RATE, Kind, StreamSettings, TranscribingStream

__all__ = [
    "WORD_SECONDS",
    "EnergyDetector",
    "FakeSpeechToText",
    "FakeTextToSpeech",
    "fake_pair",
]

TONE_SECONDS = 0.16
GAP_SECONDS = 0.04
WORD_SECONDS = TONE_SECONDS + GAP_SECONDS
_LOUD = 0.02  # RMS above which a 20 ms window is speech (the tones are at 0.3)


class EnergyDetector:
    """A `SpeechDetector` by loudness: 1.0 for a 20 ms window above `_LOUD`, else 0.0."""

    window = RATE // 50

    async def probabilities(self, audio: npt.NDArray[np.float32]) -> list[float]:
        windows = audio.reshape(-1, self.window)
        loudness = np.sqrt(np.mean(windows * windows, axis=1))
        return [1.0 if level > _LOUD else 0.0 for level in loudness]


def _count_words(audio: npt.NDArray[np.float32]) -> int:
    """Tones in `audio`: runs of loud 20 ms windows."""
    usable = audio[: audio.size - audio.size % EnergyDetector.window]
    if not usable.size:
        return 0
    windows = usable.reshape(-1, EnergyDetector.window)
    loud = np.sqrt(np.mean(windows * windows, axis=1)) > _LOUD
    return int(np.count_nonzero(loud[1:] & ~loud[:-1]) + int(loud[0]))


class _AirTranscriber:
    """One stream's: the text at the head of the air is taken by the next utterance."""

    def __init__(self, air: deque[str], unknown: str) -> None:
        self._air = air
        self._unknown = unknown
        self._utterance = 0
        self._text = ""

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, utterance: int, kind: Kind
    ) -> str:
        if utterance != self._utterance:
            self._utterance = utterance
            self._text = self._air.popleft() if self._air else self._unknown
        if kind == "final" or self._text == self._unknown:
            return self._text
        return " ".join(self._text.split()[: _count_words(audio)])


class FakeSpeechToText:
    """A `SpeechToText`. `unknown`: the text of an utterance nobody put on the air."""

    def __init__(
        self,
        air: deque[str] | None = None,
        *,
        unknown: str = "",
        settings: StreamSettings | None = None,
    ) -> None:
        self.air: deque[str] = air if air is not None else deque()
        # Pauses between the fake's words are 40 ms; a shorter end of utterance than the
        # real default keeps tests quick.
        self._settings = settings or StreamSettings(
            endpoint=EndpointSettings(end_silence=0.3, settle_silence=0.1),
            partial_interval=0.4,
            first_partial=0.3,
        )
        self._unknown = unknown

    def open_stream(self, speaker: str) -> TranscribingStream:
        transcriber = _AirTranscriber(self.air, self._unknown)
        return TranscribingStream(speaker, EnergyDetector(), transcriber, self._settings)

    async def aclose(self) -> None:
        return None


class FakeTextToSpeech:
    """A `TextToSpeech`; `spoken` lists what it was asked to say, `air` hears it too."""

    name = "fake"

    def __init__(self, air: deque[str] | None = None, *, first_audio_delay: float = 0.0) -> None:
        self.air: deque[str] = air if air is not None else deque()
        self.spoken: list[str] = []
        self._delay = first_audio_delay
        tone_samples = round(TONE_SECONDS * SAMPLE_RATE)
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * np.arange(tone_samples) / SAMPLE_RATE)
        gap = np.zeros(round(GAP_SECONDS * SAMPLE_RATE))
        self._word = (np.concatenate([tone, gap]) * 32767).astype(np.int16)

    async def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        words = text.split()
        if not words:
            return
        self.spoken.append(text)
        self.air.append(" ".join(words))
        if self._delay:
            await asyncio.sleep(self._delay)
        cutter = ChunkCutter()
        for _ in words:
            for chunk in cutter.cut(self._word):
                yield chunk
                await asyncio.sleep(0)  # a real engine yields to the loop too
        for chunk in cutter.flush():
            yield chunk

    async def aclose(self) -> None:
        return None


def fake_pair() -> tuple[FakeSpeechToText, FakeTextToSpeech]:
    """What the TTS says, the STT hears, in order."""
    air: deque[str] = deque()
    return FakeSpeechToText(air), FakeTextToSpeech(air)
