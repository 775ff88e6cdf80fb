"""Call recording: both parties' encoded media muxed into one Matroska/WebM file, no re-encode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiortc.mediastreams import MediaStreamError

from media.call import Call, CallEnded, CallError
from media.forwarder import Forwarder
from media.frames import AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES, VIDEO_CLOCK_RATE
from media.hub import TrackHub
from media.leg import Kind, Party
from media.muxer import Muxer, StreamSpec
from media.timeline import AnchoredTimeline

__all__ = ["Recorder", "RecordingInfo"]

_PARTIES: tuple[Party, ...] = ("customer", "agent")
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """A finished recording. `duration_seconds` runs from `start()` to the last packet."""

    path: Path
    duration_seconds: float
    size_bytes: int
    sha256: str
    started_at: datetime
    streams: tuple[str, ...]
    packets: int
    dropped_packets: int


class _Stream:
    """One recorded stream (a party's audio or video) and the inbound track feeding it."""

    def __init__(self, index: int, party: Party, kind: Kind, timeline: AnchoredTimeline) -> None:
        self.index = index
        self.party = party
        self.kind = kind
        self.timeline = timeline
        self.hub: TrackHub | None = None
        self.forwarder: Forwarder | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def title(self) -> str:
        return f"{self.party} {self.kind}"


class Recorder:
    """Records a call: one Opus stream per party, and a VP8 stream per party with video.

    Whether the gateway may record (consent, policy) is its business; this only starts
    and stops. What is recorded is what each party heard from the other, as
    `Call.heard()` says: a muted party's audio and a held call are gaps, not sound. The
    streams are seats, not people: "agent audio" goes on across a transfer (the new
    agent's packets continue the stream, re-anchored on the wall clock; who served when
    is in the conversation's log), and a party who joins late starts later in the file.

    Packets are copied, never decoded: a pump task per stream reads its own forwarder
    and hands packets to a `Muxer` thread through a bounded drop-oldest queue. Streams
    are declared when the file starts, so video is recorded only if the call has video
    by then (or `video=True` asks for video streams ahead of an upgrade). The call ending
    finishes the file; `stop()` then returns the same `RecordingInfo`.
    """

    def __init__(
        self,
        call: Call,
        directory: Path | str,
        *,
        video: bool | None = None,
        queue_size: int = 2000,
        header_wait: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._call = call
        self._directory = Path(directory)
        self._video = video
        self._queue_size = queue_size
        self._header_wait = header_wait
        self._clock = clock
        self._streams: list[_Stream] = []
        self._muxer: Muxer | None = None
        self._started_at: datetime | None = None
        self._halted = False
        self._info: RecordingInfo | None = None

    @property
    def recording(self) -> bool:
        return self._muxer is not None and not self._halted

    @property
    def path(self) -> Path | None:
        return self._muxer.path if self._muxer is not None else None

    @property
    def info(self) -> RecordingInfo | None:
        return self._info

    async def start(self) -> Path:
        """Open the file and start recording; returns its path."""
        if self._muxer is not None:
            raise CallError("this recorder has already been started")
        if self._call.ended:
            raise CallEnded(f"call {self._call.call_id} has ended")
        video = self._video if self._video is not None else self._call.media == "video"
        kinds: tuple[Kind, ...] = ("audio", "video") if video else ("audio",)
        origin = self._clock()
        for kind in kinds:
            for party in _PARTIES:
                if kind == "audio":
                    rate, step = AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES
                else:
                    rate, step = VIDEO_CLOCK_RATE, 1
                timeline = AnchoredTimeline(rate, step, origin=origin, clock=self._clock)
                self._streams.append(_Stream(len(self._streams), party, kind, timeline))
        self._started_at = datetime.now(UTC)
        path = await asyncio.to_thread(self._create_file, video)
        muxer = Muxer(
            path,
            [StreamSpec(s.kind, s.title) for s in self._streams],
            format="webm" if video else "matroska",
            metadata={
                "title": f"call {self._call.call_id}",
                # Matroska tag names are upper case (readers return them so).
                "CALL_ID": self._call.call_id,
                "CONVERSATION_ID": self._call.conversation_id,
                "RECORDED_AT": self._started_at.isoformat(),
            },
            queue_size=self._queue_size,
            header_wait=self._header_wait,
        )
        muxer.start()
        self._muxer = muxer
        self._call.add_observer(self)
        self.media_changed()
        return path

    async def stop(self) -> RecordingInfo:
        """Stop and finish the file (idempotent; also after the call ended)."""
        if self._muxer is None or self._started_at is None:
            raise CallError("this recorder was never started")
        self._call.remove_observer(self)
        await self._halt()
        if self._info is None:
            result = await self._muxer.finished()
            self._info = RecordingInfo(
                path=result.path,
                duration_seconds=result.duration_seconds,
                size_bytes=result.size_bytes,
                sha256=result.sha256,
                started_at=self._started_at,
                streams=tuple(s.title for s in self._streams),
                packets=result.packets,
                dropped_packets=result.dropped + result.errors,
            )
        return self._info

    def stats(self) -> dict[str, Any]:
        muxer = self._muxer
        return {
            "recording": self.recording,
            "path": str(muxer.path) if muxer is not None else None,
            "written": muxer.written if muxer is not None else 0,
            "dropped": muxer.dropped if muxer is not None else 0,
            "streams": {
                s.title: {"live": s.task is not None, "anchors": s.timeline.anchors}
                for s in self._streams
            },
        }

    # ----------------------------------------------------------- CallObserver

    def media_changed(self) -> None:
        if self._halted or self._muxer is None:
            return
        for stream in self._streams:
            hub = self._call.heard(stream.party, stream.kind)
            if hub is stream.hub:
                continue
            self._unplug(stream)
            stream.hub = hub
            if hub is not None:
                stream.forwarder = hub.forward()
                stream.timeline.reanchor()
                stream.task = asyncio.ensure_future(self._pump(stream, stream.forwarder))

    async def call_ending(self) -> None:
        await self._halt()

    # --------------------------------------------------------------- internal

    async def _halt(self) -> None:
        tasks = [s.task for s in self._streams if s.task is not None]
        if not self._halted:
            self._halted = True
            for stream in self._streams:
                self._unplug(stream)
            if self._muxer is not None:
                self._muxer.close()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _unplug(self, stream: _Stream) -> None:
        if stream.task is not None:
            stream.task.cancel()
            stream.task = None
        if stream.forwarder is not None:
            stream.forwarder.stop()
            stream.forwarder = None
        stream.hub = None

    async def _pump(self, stream: _Stream, forwarder: Forwarder) -> None:
        muxer = self._muxer
        assert muxer is not None
        while True:
            try:
                frame = await forwarder.next_frame()
            except MediaStreamError:
                return
            pts = stream.timeline.map(frame.timestamp)
            muxer.submit(stream.index, frame.data, pts, frame.keyframe)

    def _create_file(self, video: bool) -> Path:
        assert self._started_at is not None
        self._directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        name = _SAFE.sub("_", self._call.call_id).strip("_")[:64] or "call"
        stamp = self._started_at.strftime("%Y%m%dT%H%M%S%fZ")
        suffix = ".webm" if video else ".mka"
        for attempt in range(100):
            extra = f"-{attempt}" if attempt else ""
            path = self._directory / f"{name}-{stamp}{extra}{suffix}"
            # Created here, exclusively and private: never another recording's file.
            with contextlib.suppress(FileExistsError):
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640))
                return path
        raise FileExistsError(f"no free recording file name for {name} in {self._directory}")
