"""Encoded packets into a Matroska/WebM file, on a thread of its own, without re-encoding."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
from av.container import OutputContainer
from av.stream import Stream

from media.frames import (
    AUDIO_CLOCK_RATE,
    AUDIO_TIME_BASE,
    OPUS_FRAME_SAMPLES,
    VIDEO_CLOCK_RATE,
    VIDEO_TIME_BASE,
    vp8_dimensions,
)

__all__ = ["MuxResult", "Muxer", "StreamSpec"]

logger = logging.getLogger(__name__)

# Matroska wants a picture size in the header, before the first packet; a video stream
# that has sent no keyframe by then gets this (decoders use the size in the stream).
_DEFAULT_SIZE = (640, 480)
# The muxer holds packets back to interleave streams, up to this long (µs) when a stream
# is silent; libavformat's default of 10 s would keep that much media in memory.
_MAX_INTERLEAVE_DELTA = "1000000"


@dataclass(frozen=True, slots=True)
class StreamSpec:
    kind: Literal["audio", "video"]
    title: str


@dataclass(frozen=True, slots=True)
class MuxResult:
    path: Path
    duration_seconds: float
    size_bytes: int
    sha256: str
    packets: int
    dropped: int
    errors: int


@dataclass(frozen=True, slots=True)
class _Item:
    stream: int
    data: bytes
    pts: int
    keyframe: bool


class _PacketQueue:
    """Bounded and drop-oldest between the event loop and the writer thread.

    `put()` never blocks the loop for more than a lock hand-over; a writer that falls
    behind (a slow disk) loses the oldest packets, counted, rather than memory.
    """

    def __init__(self, maxlen: int) -> None:
        self._items: deque[_Item] = deque(maxlen=maxlen)
        self._ready = threading.Condition()
        self._closed = False
        self.dropped = 0
        self.received = 0

    def put(self, item: _Item) -> None:
        with self._ready:
            if self._closed:
                return
            if len(self._items) == self._items.maxlen:
                self.dropped += 1
            self._items.append(item)
            self.received += 1
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()

    def get(self) -> _Item | None:
        """The next packet; None once closed and drained."""
        with self._ready:
            while not self._items and not self._closed:
                self._ready.wait()
            return self._items.popleft() if self._items else None


class Muxer:
    """Writes encoded Opus/VP8 packets into one file; the muxing runs on its own thread.

    Packets are copied into the container as they are: Opus at 1/48000, VP8 at 1/90000,
    pts as given (each stream's must increase). The header is written once every video
    stream's first keyframe has given its picture size, or `header_wait` seconds after
    the first packet. `close()` lets the thread drain the queue and finish the file
    (trailer, size, SHA-256); `finished()` waits for that without blocking the loop.
    """

    def __init__(
        self,
        path: Path,
        streams: list[StreamSpec],
        *,
        format: str,
        metadata: dict[str, str] | None = None,
        queue_size: int = 2000,
        header_wait: float = 2.0,
    ) -> None:
        if not streams:
            raise ValueError("a recording needs at least one stream")
        self.path = path
        self._specs = list(streams)
        self._format = format
        self._metadata = dict(metadata or {})
        self._queue = _PacketQueue(queue_size)
        self._header_wait = header_wait
        self._sizes: dict[int, tuple[int, int]] = {}
        self._pending: list[_Item] = []
        self._pending_since: float | None = None
        self._container: OutputContainer | None = None
        self._streams: list[Stream] = []
        self._ends: dict[int, float] = {}
        self._written = 0
        self._errors = 0
        self._thread = threading.Thread(target=self._run, name=f"mux {path.name}")
        self._done: asyncio.Future[MuxResult] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    @property
    def written(self) -> int:
        return self._written

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._done = self._loop.create_future()
        self._thread.start()

    def submit(self, stream: int, data: bytes, pts: int, keyframe: bool = True) -> None:
        self._queue.put(_Item(stream, data, pts, keyframe))

    def close(self) -> None:
        """No more packets: the thread finishes the file once the queue is drained."""
        self._queue.close()

    async def finished(self) -> MuxResult:
        if self._done is None:
            raise RuntimeError("the muxer was never started")
        return await asyncio.shield(self._done)

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        result: MuxResult | BaseException
        try:
            while (item := self._queue.get()) is not None:
                self._accept(item)
            self._finish()
            result = self._result()
        except BaseException as error:  # handed to the awaiting side, not lost
            logger.exception("recording %s failed", self.path)
            if self._container is not None:
                with contextlib.suppress(Exception):
                    self._container.close()
            result = error
        self._deliver(result)

    def _accept(self, item: _Item) -> None:
        if self._container is not None:
            self._mux(item)
            return
        spec = self._specs[item.stream]
        if spec.kind == "video" and item.stream not in self._sizes:
            size = vp8_dimensions(item.data)
            if size is not None:
                self._sizes[item.stream] = size
        self._pending.append(item)
        if self._pending_since is None:
            self._pending_since = time.monotonic()
        if self._header_ready():
            self._open()

    def _header_ready(self) -> bool:
        videos = [i for i, spec in enumerate(self._specs) if spec.kind == "video"]
        if all(i in self._sizes for i in videos):
            return True
        waited = time.monotonic() - (self._pending_since or time.monotonic())
        return waited >= self._header_wait or len(self._pending) >= 10_000

    def _open(self) -> None:
        container = av.open(
            str(self.path),
            "w",
            format=self._format,
            container_options={"max_interleave_delta": _MAX_INTERLEAVE_DELTA},
        )
        container.metadata.update(self._metadata)
        for index, spec in enumerate(self._specs):
            stream: Stream
            if spec.kind == "audio":
                # An encoder context only for its OpusHead (the CodecPrivate Matroska
                # requires): it never encodes, the packets are the parties' own.
                audio = container.add_stream("libopus", rate=AUDIO_CLOCK_RATE, layout="stereo")
                audio.time_base = AUDIO_TIME_BASE
                stream = audio
            else:
                width, height = self._sizes.get(index, _DEFAULT_SIZE)
                stream = container.add_mux_stream("vp8", width=width, height=height)
                stream.time_base = VIDEO_TIME_BASE
            stream.metadata["title"] = spec.title
            self._streams.append(stream)
        self._container = container
        pending, self._pending = self._pending, []
        for item in pending:
            self._mux(item)

    def _mux(self, item: _Item) -> None:
        assert self._container is not None
        spec = self._specs[item.stream]
        packet = av.Packet(item.data)
        packet.stream = self._streams[item.stream]
        packet.pts = packet.dts = item.pts
        if spec.kind == "audio":
            packet.time_base = AUDIO_TIME_BASE
            end = (item.pts + OPUS_FRAME_SAMPLES) / AUDIO_CLOCK_RATE
        else:
            packet.time_base = VIDEO_TIME_BASE
            packet.is_keyframe = item.keyframe
            end = item.pts / VIDEO_CLOCK_RATE
        try:
            self._container.mux(packet)
        except av.FFmpegError as error:
            # One bad packet (a timestamp the muxer refuses) must not end the recording.
            self._errors += 1
            if self._errors <= 3:
                logger.warning("recording %s: packet refused: %s", self.path, error)
            return
        self._written += 1
        self._ends[item.stream] = max(self._ends.get(item.stream, 0.0), end)

    def _finish(self) -> None:
        if self._container is None:
            self._open()
        assert self._container is not None
        # Writes the header if no packet did: an empty recording is still a valid file.
        self._container.start_encoding()
        self._container.close()

    def _result(self) -> MuxResult:
        digest = hashlib.sha256()
        with self.path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        return MuxResult(
            path=self.path,
            duration_seconds=round(max(self._ends.values(), default=0.0), 3),
            size_bytes=self.path.stat().st_size,
            sha256=digest.hexdigest(),
            packets=self._written,
            dropped=self._queue.dropped,
            errors=self._errors,
        )

    def _deliver(self, result: MuxResult | BaseException) -> None:
        loop, done = self._loop, self._done
        if loop is None or done is None:
            return

        def settle() -> None:
            if done.done():
                return
            if isinstance(result, BaseException):
                done.set_exception(result)
            else:
                done.set_result(result)

        # The loop may be gone (the process is shutting down): the file is finished anyway.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle)
