"""Live transcription of a call: each party's audio, as the other side hears it, to text.

A `CallTranscriber` follows a call like the recorder does (a `CallObserver`): whenever who
hears what changes, it re-reads `Call.heard(party, "audio")` and decodes exactly those
hubs, so a held or muted party is not transcribed and nothing is decoded for a call
nobody transcribes. Each speaker has one speech-to-text stream for the whole call; a
transfer closes the previous agent's stream (finalising what they said) and opens one
for the next agent. Segments go to `on_segment` with the speaker's label ("customer" or
the agent's actor id, e.g. "agent:anna").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import av
from aiortc.mediastreams import MediaStreamError

from media.call import Call
from media.hub import TrackHub
from media.leg import Party
from media.speech.pcm import chunk_from_frame
from media.speech.ports import Segment, SpeechOnsets, SpeechToText, SttStream
from media.tap import DecodingTap

__all__ = ["CallTranscriber", "SegmentSink", "SpeechStartSink"]

logger = logging.getLogger(__name__)

SegmentSink = Callable[[str, Segment], Awaitable[None]]
# (speaker, seconds of speech heard by then): an utterance started (barge-in listens).
SpeechStartSink = Callable[[str, float], None]

_PARTIES: tuple[Party, ...] = ("customer", "agent")
# How long the end of a call waits for the last words' final segments.
_DRAIN_SECONDS = 3.0


@dataclass(slots=True)
class _Speaker:
    label: str
    stream: SttStream
    reader: asyncio.Task[None]
    hub: TrackHub | None = None
    tap: DecodingTap | None = None
    pump: asyncio.Task[None] | None = None
    pushed: int = 0


class CallTranscriber:
    """Transcribes both parties of `call` into `on_segment` until the call ends."""

    def __init__(
        self,
        call: Call,
        stt: SpeechToText,
        on_segment: SegmentSink,
        on_speech_start: SpeechStartSink | None = None,
    ) -> None:
        self._call = call
        self._stt = stt
        self._on_segment = on_segment
        self._on_speech_start = on_speech_start
        self._speakers: dict[Party, _Speaker] = {}
        self._retired: list[_Speaker] = []
        self._started = False
        self._stopped = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._call.add_observer(self)
        self.media_changed()

    @property
    def speakers(self) -> tuple[str, ...]:
        return tuple(s.label for s in self._speakers.values())

    # ----------------------------------------------------------- CallObserver

    def media_changed(self) -> None:
        if self._stopped:
            return
        for party in _PARTIES:
            label = self._label(party)
            speaker = self._speakers.get(party)
            if speaker is not None and speaker.label != label:
                # Another agent took the seat: what the last one said is finalised apart.
                self._unplug(speaker)
                self._retire(speaker)
                del self._speakers[party]
                speaker = None
            if label is None:
                continue
            hub = self._call.heard(party, "audio")
            if speaker is None:
                if hub is None:
                    continue  # open a stream only once there is something to hear
                speaker = self._open(label)
                self._speakers[party] = speaker
            if hub is not speaker.hub:
                self._unplug(speaker)
                speaker.hub = hub
                if hub is not None:
                    speaker.tap = hub.decode()
                    speaker.pump = asyncio.ensure_future(self._pump(speaker, speaker.tap))

    async def call_ending(self) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Finalise every stream (waiting a little for the last words) and stop."""
        if self._stopped:
            return
        self._stopped = True
        self._call.remove_observer(self)
        for speaker in self._speakers.values():
            self._unplug(speaker)
            self._retire(speaker)
        self._speakers.clear()
        readers = [s.reader for s in self._retired]
        if readers:
            _, pending = await asyncio.wait(readers, timeout=_DRAIN_SECONDS)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._retired.clear()

    # --------------------------------------------------------------- internals

    def _label(self, party: Party) -> str | None:
        if party == "customer":
            return "customer"
        agent = self._call.agent_id
        return f"agent:{agent}" if agent is not None else None

    def _open(self, label: str) -> _Speaker:
        stream = self._stt.open_stream(label)
        if self._on_speech_start is not None and isinstance(stream, SpeechOnsets):
            stream.on_speech_start(partial(self._on_speech_start, label))
        return _Speaker(label, stream, asyncio.ensure_future(self._read(label, stream)))

    def _retire(self, speaker: _Speaker) -> None:
        # close() finalises what was said; the reader then delivers it and ends.
        speaker.stream.close()
        self._retired.append(speaker)

    def _unplug(self, speaker: _Speaker) -> None:
        if speaker.tap is not None:
            speaker.tap.stop()
            speaker.tap = None
        if speaker.pump is not None:
            speaker.pump.cancel()
            speaker.pump = None
        speaker.hub = None

    async def _pump(self, speaker: _Speaker, tap: DecodingTap) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await tap.recv()
                if isinstance(frame, av.AudioFrame):
                    speaker.stream.push(chunk_from_frame(frame))
                    speaker.pushed += 1

    async def _read(self, label: str, stream: SttStream) -> None:
        try:
            async for segment in stream:
                try:
                    await self._on_segment(label, segment)
                except Exception:
                    logger.exception("transcript of %s: delivering a segment failed", label)
        except asyncio.CancelledError:
            raise
        except Exception:
            # An engine failure ends this speaker's transcript, never the call.
            logger.exception("transcript of %s: speech recognition failed", label)
