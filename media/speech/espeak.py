"""The light fallback voice: the `espeak-ng` program's own synthesis, resampled to 48 kHz.

Robotic, but it needs no model and no extra, and answers in a few milliseconds.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from media.speech.espeak_program import EspeakProgram
from media.speech.ports import AudioChunk
from media.speech.synthesis import Rendered, stream_pieces
from media.speech.text import Clause, plan_pieces

__all__ = ["EspeakTextToSpeech"]


class EspeakTextToSpeech:
    """A `TextToSpeech`, one espeak-ng process per sentence."""

    name = "espeak"

    def __init__(self, program: EspeakProgram | None = None, *, words_per_minute: int = 165):
        self._program = program or EspeakProgram()
        self._words_per_minute = words_per_minute

    def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        # Whole sentences: espeak-ng is fast enough that a short first piece gains nothing.
        return stream_pieces(plan_pieces(text, first_words=0), self._render)

    async def _render(self, piece: list[Clause]) -> Rendered:
        text = " ".join(clause.text + clause.punctuation for clause in piece)
        wav = await self._program.speak(text, words_per_minute=self._words_per_minute)
        return wav.samples, wav.sample_rate

    async def aclose(self) -> None:
        return None
