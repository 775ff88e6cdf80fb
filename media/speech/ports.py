"""What the rest of Tandem sees of speech: audio chunks, transcript segments and two ports.

Audio is always mono signed 16-bit little-endian PCM. Speech out (`TextToSpeech`) is
48 kHz in 20 ms chunks, WebRTC's clock and packet size, so a track can send each chunk as
one frame. Speech in (`SpeechToText`) takes any rate a chunk declares; 48 kHz from a call
is the usual one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "AudioChunk",
    "Segment",
    "SpeechOnsets",
    "SpeechToText",
    "SttStream",
    "TextToSpeech",
]

SAMPLE_RATE = 48_000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Mono s16le PCM."""

    pcm: bytes
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self) -> None:
        if len(self.pcm) % 2:
            raise ValueError("s16 PCM has an even number of bytes")
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")

    @property
    def samples(self) -> int:
        return len(self.pcm) // 2

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate


@dataclass(frozen=True, slots=True)
class Segment:
    """A piece of transcript.

    `start`/`end` are seconds of the stream's own audio (counted from its first chunk).
    Partials (`is_final=False`) of one utterance share its `utterance` number and are
    replaced by later ones; the final is the utterance's last word on the matter. Partials
    of an utterance always come before its final.
    """

    speaker: str
    text: str
    start: float
    end: float
    is_final: bool
    utterance: int


class SttStream(Protocol):
    """One speaker's audio in, their transcript out.

    `push` never blocks: the stream works on its own task. Iterate it for segments; the
    iteration ends after `close()` once the last utterance is final, or at once after
    `aclose()`. An engine failure is raised by the iteration.
    """

    @property
    def speaker(self) -> str: ...

    def push(self, chunk: AudioChunk) -> None: ...

    def close(self) -> None:
        """End of input: what was said so far is finalised, then the iteration ends."""

    async def aclose(self) -> None:
        """Abandon the stream: stop working now, no further segments."""

    def __aiter__(self) -> AsyncIterator[Segment]: ...


@runtime_checkable
class SpeechOnsets(Protocol):
    """A speech-to-text stream that reports when speech starts (`TranscribingStream`)."""

    def on_speech_start(self, listener: Callable[[float], None]) -> None: ...


class SpeechToText(Protocol):
    def open_stream(self, speaker: str) -> SttStream: ...

    async def aclose(self) -> None:
        """Release the engine (threads, models); open streams must be closed first."""


class TextToSpeech(Protocol):
    """Text in, 48 kHz mono 20 ms `AudioChunk`s out.

    Chunks come as fast as they are made (faster than real time): the consumer paces
    them. To stop mid-utterance (barge-in), stop iterating and close the generator
    (`async with contextlib.aclosing(tts.synthesize(text)) as audio:`) or cancel the
    task iterating it: no chunk comes after that, and the work in progress is dropped.
    """

    @property
    def name(self) -> str: ...

    def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]: ...

    async def aclose(self) -> None: ...
