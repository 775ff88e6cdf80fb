"""A streaming transcript from any voice-activity detector and any utterance transcriber.

The stream keeps the audio at 16 kHz, asks the detector which 16 kHz windows are speech
and lets an `Endpointer` find the utterances. While one is spoken, the words so far are
transcribed every `partial_interval` (partials); when it ends, the whole of it is (the
final). To answer fast, the transcription starts as soon as the speaker pauses
(`settle_silence`): when the pause turns out to be the end of the utterance (`end_silence`),
that result is the final, and the end-of-speech -> final latency is about `end_silence`.
Only one transcription per stream runs at a time, so a slow engine costs freshness of the
partials, never their order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

import numpy as np
import numpy.typing as npt

from media.speech.endpoint import Endpoint, Endpointer, EndpointSettings
from media.speech.pcm import Resampler
from media.speech.ports import AudioChunk, Segment

__all__ = [
    "RATE",
    "Kind",
    "SpeechDetector",
    "StreamSettings",
    "Transcriber",
    "TranscribingStream",
]

logger = logging.getLogger(__name__)

RATE = 16_000  # what Whisper and Silero VAD take

Audio = npt.NDArray[np.float32]


class SpeechDetector(Protocol):
    """One per stream: detectors keep state from window to window."""

    @property
    def window(self) -> int:
        """Samples at 16 kHz per probability."""

    async def probabilities(self, audio: Audio) -> list[float]:
        """One probability per window of `audio` (whose length is a multiple of `window`)."""


Kind: TypeAlias = Literal["partial", "settled", "final"]


class Transcriber(Protocol):
    """One utterance's audio (or its beginning) in, its text out.

    `kind`: "partial", the utterance goes on; "settled", the speaker paused, and this
    becomes the final if the pause is the end (an engine should run it, like a final,
    before partials); "final", the utterance is over. `utterance` numbers the stream's
    utterances (engines shared by streams ignore it; the fake needs it). Cancelling the
    call may drop the work if it has not started.
    """

    async def transcribe(self, audio: Audio, *, utterance: int, kind: Kind) -> str: ...


@dataclass(frozen=True, slots=True)
class StreamSettings:
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    # Seconds of audio between two partials while someone speaks.
    partial_interval: float = 0.6
    # Seconds of speech before the first partial: less is rarely a word yet.
    first_partial: float = 0.5
    # Audio kept before an utterance's first speech window and after its last, seconds:
    # the detector notices speech a little late and lets go of it a little early.
    pad: float = 0.2
    # Audio waiting for the detector, seconds; beyond it (a machine that cannot keep up)
    # the oldest is dropped and counted.
    max_backlog: float = 30.0


@dataclass(slots=True)
class _Job:
    kind: Kind
    utterance: int
    end: int
    task: asyncio.Task[str]


class _End:
    pass


_END = _End()


class TranscribingStream:
    """An `SttStream`; create it inside the event loop (it starts a task)."""

    def __init__(
        self,
        speaker: str,
        detector: SpeechDetector,
        transcriber: Transcriber,
        settings: StreamSettings | None = None,
    ) -> None:
        self._speaker = speaker
        self._detector = detector
        self._transcriber = transcriber
        self._settings = settings or StreamSettings()
        self._endpointer = Endpointer(self._settings.endpoint, rate=RATE, window=detector.window)
        self._pad = round(self._settings.pad * RATE)
        self._resamplers: dict[int, Resampler] = {}
        # Received audio from absolute sample `_origin` on; the detector has seen it up to
        # `self._endpointer.position`.
        self._audio: Audio = np.zeros(0, np.float32)
        self._origin = 0
        self._received = 0
        self.dropped_seconds = 0.0
        self._closing = False
        self._wake = asyncio.Event()
        self._out: asyncio.Queue[Segment | BaseException | _End] = asyncio.Queue()
        self._utterance = 0
        self._partial_text = ""
        self._partial_at = 0
        self._job: _Job | None = None
        # (end, text) of a transcription made at a pause, until the utterance goes on.
        self._ready: tuple[int, str] | None = None
        self._speech_start_listeners: list[Callable[[float], None]] = []
        self._task = asyncio.get_running_loop().create_task(self._run())

    @property
    def speaker(self) -> str:
        return self._speaker

    def on_speech_start(self, listener: Callable[[float], None]) -> None:
        """Call `listener(heard)` as soon as an utterance starts, long before its first
        partial (barge-in). `heard`: seconds of its audio received by then, i.e. how late
        the news is when audio is pushed as it is spoken."""
        self._speech_start_listeners.append(listener)

    def push(self, chunk: AudioChunk) -> None:
        if self._closing:
            return
        samples = np.frombuffer(chunk.pcm, np.int16)
        if chunk.sample_rate == RATE:
            audio = samples.astype(np.float32) / 32768.0
        else:
            resampler = self._resamplers.get(chunk.sample_rate)
            if resampler is None:
                resampler = self._resamplers[chunk.sample_rate] = Resampler(
                    chunk.sample_rate, RATE, "flt"
                )
            audio = resampler.convert(samples)
        self._append(audio)
        self._wake.set()

    def close(self) -> None:
        if self._closing:
            return
        for resampler in self._resamplers.values():
            self._append(resampler.flush())
        self._closing = True
        self._wake.set()

    async def aclose(self) -> None:
        self._closing = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def __aiter__(self) -> AsyncIterator[Segment]:
        return self._segments()

    async def _segments(self) -> AsyncIterator[Segment]:
        while True:
            item = await self._out.get()
            if isinstance(item, _End):
                self._out.put_nowait(item)  # a second iteration ends too
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def _append(self, audio: Audio) -> None:
        self._audio = np.concatenate([self._audio, audio]) if self._audio.size else audio
        self._received += audio.size

    def _limit_backlog(self) -> None:
        excess = (
            self._received - self._endpointer.position - round(self._settings.max_backlog * RATE)
        )
        excess -= excess % self._detector.window
        if excess <= 0:
            return
        # The detector skips ahead: an utterance in progress loses its middle.
        self._endpointer.position += excess
        self.dropped_seconds += excess / RATE
        self._trim()
        logger.warning("speech stream %s: %.1f s of audio dropped", self._speaker, excess / RATE)

    async def _run(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._limit_backlog()
                await self._detect()
                self._collect_job()
                if self._closing:
                    await self._detect(final=True)
                    break
                self._schedule()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.exception("speech stream %s failed", self._speaker)
            self._out.put_nowait(error)
        finally:
            if self._job is not None:
                task = self._job.task
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # seen: the stream is over, whatever it says
            self._out.put_nowait(_END)

    async def _detect(self, *, final: bool = False) -> None:
        window = self._detector.window
        start = self._endpointer.position - self._origin
        available = self._audio.size - start
        if final and available % window:
            self._audio = np.concatenate(
                [self._audio, np.zeros(window - available % window, np.float32)]
            )
            available = self._audio.size - start
        count = available - available % window
        if count <= 0:
            if final:
                await self._handle(self._endpointer.finish())
            return
        probabilities = await self._detector.probabilities(self._audio[start : start + count])
        for probability in probabilities:
            await self._handle(self._endpointer.feed(probability))
        if final:
            await self._handle(self._endpointer.finish())
        self._trim()

    async def _handle(self, endpoint: Endpoint | None) -> None:
        if endpoint is None:
            return
        if endpoint.kind == "started":
            self._utterance += 1
            self._partial_text = ""
            self._ready = None
            self._partial_at = endpoint.start
            heard = (self._received - endpoint.start) / RATE
            for listener in self._speech_start_listeners:
                try:
                    listener(heard)
                except Exception:  # a listener's bug must not end the transcript
                    logger.exception(
                        "speech stream %s: a speech-start listener failed", self._speaker
                    )
        elif endpoint.kind == "settled":
            self._schedule()
        else:
            await self._finalise(endpoint)

    async def _finalise(self, endpoint: Endpoint) -> None:
        job, self._job = self._job, None
        ready, self._ready = self._ready, None
        text = ""
        if endpoint.kind == "ended":
            if ready is not None and ready[0] == endpoint.end:
                text = ready[1]
            elif job is not None and job.kind == "settled" and job.end == endpoint.end:
                text = (await job.task).strip()
            else:
                if job is not None:
                    job.task.cancel()  # a partial no one will see; dropped if not started
                audio = self._slice(endpoint.start, endpoint.end)
                text = await self._transcriber.transcribe(
                    audio, utterance=self._utterance, kind="final"
                )
                text = text.strip()
        elif job is not None:
            job.task.cancel()
        if text or self._partial_text:
            self._out.put_nowait(self._segment(text, endpoint.start, endpoint.end, final=True))
        self._partial_text = ""

    def _schedule(self) -> None:
        """Start the transcription the utterance in progress is due, if any."""
        endpointer = self._endpointer
        start = endpointer.utterance_start
        if start is None or self._job is not None:
            return
        settings = self._settings
        if endpointer.settled:
            if endpointer.voiced < settings.endpoint.min_speech * RATE:
                return  # noise, about to be discarded
            # Also reached when the pause came while a partial was running.
            if self._ready is None or self._ready[0] != endpointer.voice_end:
                self._job = self._transcribe("settled", start, endpointer.voice_end)
            return
        if endpointer.voiced < settings.first_partial * RATE:
            return
        if endpointer.position - self._partial_at < settings.partial_interval * RATE:
            return
        self._partial_at = endpointer.position
        self._job = self._transcribe("partial", start, endpointer.position)

    def _collect_job(self) -> None:
        job = self._job
        if job is None or not job.task.done():
            return
        self._job = None
        text = job.task.result().strip()  # a failed engine fails the stream
        if job.utterance != self._utterance or self._endpointer.utterance_start is None:
            return
        if job.kind == "settled":
            # Kept: if the pause becomes the end of the utterance, this is the final.
            self._ready = (job.end, text)
        if text and text != self._partial_text:
            self._partial_text = text
            start = self._endpointer.utterance_start
            self._out.put_nowait(self._segment(text, start, job.end, final=False))

    def _transcribe(self, kind: Kind, start: int, end: int) -> _Job:
        audio = self._slice(start, end)
        task = asyncio.get_running_loop().create_task(
            self._transcriber.transcribe(audio, utterance=self._utterance, kind=kind)
        )
        task.add_done_callback(lambda _: self._wake.set())
        return _Job(kind, self._utterance, end, task)

    def _slice(self, start: int, end: int) -> Audio:
        first = max(start - self._pad, self._origin) - self._origin
        last = min(end + self._pad, self._origin + self._audio.size) - self._origin
        # A copy: the buffer is trimmed and grown while the engine works on its thread.
        return self._audio[first:last].copy()

    def _segment(self, text: str, start: int, end: int, *, final: bool) -> Segment:
        return Segment(
            speaker=self._speaker,
            text=text,
            start=start / RATE,
            end=end / RATE,
            is_final=final,
            utterance=self._utterance,
        )

    def _trim(self) -> None:
        start = self._endpointer.utterance_start
        keep_from = (start if start is not None else self._endpointer.position) - self._pad
        cut = keep_from - self._origin
        if cut > 0:
            self._audio = self._audio[cut:]
            self._origin += cut
