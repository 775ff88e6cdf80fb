"""The digital human's voice: what it says, in order, paced as a live audio track.

`say()` queues an utterance and returns its `Utterance` handle. The text-to-speech engine
renders faster than real time into a short buffer per utterance (`ahead`); whoever plays
the voice takes one 20 ms chunk per 20 ms with `next_chunk()`: this track's own `recv()`
(aiortc encodes it), or `OpusVoiceSource` (encodes it for a `SwitchableAudioTrack`).
Between utterances, and while the engine has nothing yet, it plays silence.

`interrupt()` is barge-in: the utterance playing and those waiting are dropped at once
(the next chunk is silence) and their engine work is cancelled, except utterances said
with `interruptible=False` (a compliance disclosure), which play to the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.digital_human.lipsync import MouthEnvelope, MouthSettings, chunk_level
from media.speech.ports import FRAME_SAMPLES, SAMPLE_RATE, AudioChunk, TextToSpeech

__all__ = ["FRAME_SECONDS", "Outcome", "Utterance", "VoiceOutput"]

logger = logging.getLogger(__name__)

Outcome: TypeAlias = Literal["finished", "interrupted", "failed"]

FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
_SILENCE = AudioChunk(bytes(2 * FRAME_SAMPLES))
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
# Behind schedule by more than this (the event loop stalled), start a new schedule
# rather than send a burst of frames to catch up.
_MAX_BEHIND = 0.1
# A chunk this late counts as an underrun at the listener (their jitter buffer is thin).
_LATE = 0.02
# The mouth closes when nobody has taken audio for this long (the voice is not heard:
# another source plays, or the track stopped).
_UNHEARD = 0.06


class Utterance:
    """One thing the voice says. `await utterance` -> how it ended (never raises)."""

    def __init__(self, text: str, *, interruptible: bool) -> None:
        self.text = text
        self.interruptible = interruptible
        self._done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # Monotonic seconds of its first chunk played, and of its end.
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.frames = 0
        # Chunks of silence played mid-utterance because the engine was behind.
        self.underruns = 0

    @property
    def outcome(self) -> Outcome | None:
        return self._done.result() if self._done.done() else None

    def add_done_callback(self, callback: Callable[[Utterance], None]) -> None:
        self._done.add_done_callback(lambda _: callback(self))

    def __await__(self) -> Generator[Any, None, Outcome]:
        # Shielded: a waiter that gives up does not end the utterance.
        return asyncio.shield(self._done).__await__()

    def _end(self, outcome: Outcome) -> None:
        if not self._done.done():
            self.ended_at = time.monotonic()
            self._done.set_result(outcome)

    def __repr__(self) -> str:
        return f"Utterance({self.text[:40]!r}, {self.outcome or 'pending'})"


class _End:
    """Put after an utterance's last chunk."""


_END = _End()


@dataclass(eq=False, slots=True)
class _Playback:
    utterance: Utterance
    chunks: asyncio.Queue[AudioChunk | _End]
    task: asyncio.Task[None] | None = None
    failed: bool = False


class VoiceOutput(MediaStreamTrack):
    """A live 48 kHz mono audio track of what the digital human says (see the module)."""

    kind = "audio"

    def __init__(
        self,
        tts: TextToSpeech,
        *,
        ahead: float = 1.0,
        mouth: MouthSettings | None = None,
    ) -> None:
        super().__init__()
        self._tts = tts
        self._ahead = max(2, round(ahead / FRAME_SECONDS))
        self._playlist: deque[_Playback] = deque()
        self._pumps: set[asyncio.Task[None]] = set()
        self._envelope = MouthEnvelope(mouth)
        self._level = 0.0
        self._taken_at = float("-inf")
        self._due: float | None = None
        self._pts = 0
        self.frames = 0
        # Frames `recv()` handed out more than 20 ms after their slot, and the worst.
        self.late_frames = 0
        self.max_lateness = 0.0

    # What is said.

    def say(self, text: str, *, interruptible: bool = True) -> Utterance:
        """Queue `text` after what is already being said; never blocks."""
        utterance = Utterance(text, interruptible=interruptible)
        if self.readyState != "live":
            utterance._end("interrupted")
        elif not text.strip():
            utterance._end("finished")
        else:
            self._playlist.append(_Playback(utterance, asyncio.Queue(self._ahead)))
            self._start_pump()
        return utterance

    def interrupt(self) -> list[Utterance]:
        """Barge-in: stop and drop every interruptible utterance; returns them."""
        kept: deque[_Playback] = deque()
        stopped = []
        for playback in self._playlist:
            if playback.utterance.interruptible:
                self._drop(playback)
                stopped.append(playback.utterance)
            else:
                kept.append(playback)
        self._playlist = kept
        self._start_pump()
        return stopped

    @property
    def speaking(self) -> bool:
        """Something is being (or about to be) said."""
        return bool(self._playlist)

    @property
    def current(self) -> Utterance | None:
        return self._playlist[0].utterance if self._playlist else None

    # What is heard.

    @property
    def level(self) -> float:
        """RMS (0..1) of the chunk playing now."""
        return self._level if self._heard() else 0.0

    @property
    def mouth_openness(self) -> float:
        """How open the mouth is now (0..1), following the audio as it is played."""
        return self._envelope.openness if self._heard() else 0.0

    def next_chunk(self) -> AudioChunk:
        """The next 20 ms to play: call it once per 20 ms, on the player's clock."""
        now = time.monotonic()
        chunk = self._take()
        self._taken_at = now
        self._level = chunk_level(chunk.pcm) if chunk is not None else 0.0
        self._envelope.feed(self._level, FRAME_SECONDS)
        self.frames += 1
        return chunk if chunk is not None else _SILENCE

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._due is None or now - self._due > _MAX_BEHIND:
            self._due = now
        elif self._due > now:
            await asyncio.sleep(self._due - now)
        lateness = time.monotonic() - self._due
        if lateness > _LATE:
            self.late_frames += 1
        self.max_lateness = max(self.max_lateness, lateness)
        self._due += FRAME_SECONDS
        chunk = self.next_chunk()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk.pcm)
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        self._pts += FRAME_SAMPLES
        return frame

    def stop(self) -> None:
        for playback in self._playlist:
            self._drop(playback)
        self._playlist.clear()
        super().stop()

    async def aclose(self) -> None:
        """`stop()`, and wait until the engine's work is cancelled."""
        self.stop()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    # Inside.

    def _heard(self) -> bool:
        return time.monotonic() - self._taken_at < _UNHEARD

    def _take(self) -> AudioChunk | None:
        while self._playlist:
            playback = self._playlist[0]
            utterance = playback.utterance
            try:
                item = playback.chunks.get_nowait()
            except asyncio.QueueEmpty:
                if utterance.frames:
                    utterance.underruns += 1
                return None
            if isinstance(item, _End):
                self._playlist.popleft()
                utterance._end("failed" if playback.failed else "finished")
                continue
            if not utterance.frames:
                utterance.started_at = time.monotonic()
            utterance.frames += 1
            return item
        return None

    def _start_pump(self) -> None:
        """Synthesise the first utterance whose audio is not all made yet.

        One at a time, in order: the next one is rendered while the one before plays (no
        gap between them), never two at once (they would compete for the engine, and the
        one playing would stall).
        """
        for playback in self._playlist:
            if playback.task is None:
                task = asyncio.get_running_loop().create_task(self._pump(playback))
                playback.task = task
                self._pumps.add(task)
                task.add_done_callback(self._pump_done)
                return
            if not playback.task.done():
                return

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        self._pumps.discard(task)
        if self.readyState == "live":
            self._start_pump()

    async def _pump(self, playback: _Playback) -> None:
        try:
            async with contextlib.aclosing(self._tts.synthesize(playback.utterance.text)) as audio:
                async for chunk in audio:
                    await playback.chunks.put(chunk)
        except Exception:
            logger.exception("speech synthesis failed: %r", playback.utterance.text[:80])
            playback.failed = True
        await playback.chunks.put(_END)

    @staticmethod
    def _drop(playback: _Playback) -> None:
        if playback.task is not None:
            playback.task.cancel()
        playback.utterance._end("interrupted")
