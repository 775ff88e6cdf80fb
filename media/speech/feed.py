"""A speaker's transcript as a stream, fed by a transcription that already runs.

A call's customer is transcribed once (`media.transcription.CallTranscriber`: one
speech-to-text stream per speaker, the finals logged). The digital human listens to the
same words: a `SegmentFeed` is an `SttStream` whose segments and speech starts are handed
to it by that transcription, so the customer's audio is decoded and recognised once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from media.speech.ports import AudioChunk, Segment

__all__ = ["SegmentFeed"]


class SegmentFeed:
    """An `SttStream` (with `on_speech_start`) fed by `deliver()` and `speech_started()`.

    `push()` is ignored: the audio goes to the transcription that feeds this. While
    `listening` is False (nobody should answer: an agent has the call) nothing is passed
    on, so a consumer never hears what was said to someone else.
    """

    def __init__(self, speaker: str) -> None:
        self._speaker = speaker
        self._segments: asyncio.Queue[Segment | None] = asyncio.Queue()
        self._listeners: list[Callable[[float], None]] = []
        self._closed = False
        self.listening = True

    @property
    def speaker(self) -> str:
        return self._speaker

    def on_speech_start(self, listener: Callable[[float], None]) -> None:
        self._listeners.append(listener)

    def deliver(self, segment: Segment) -> None:
        if self.listening and not self._closed:
            self._segments.put_nowait(segment)

    def speech_started(self, heard: float) -> None:
        if self.listening and not self._closed:
            for listener in list(self._listeners):
                listener(heard)

    def push(self, chunk: AudioChunk) -> None:
        return None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._segments.put_nowait(None)

    async def aclose(self) -> None:
        self.close()

    def __aiter__(self) -> AsyncIterator[Segment]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Segment]:
        while (segment := await self._segments.get()) is not None:
            yield segment
