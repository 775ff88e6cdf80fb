"""A decoding tap: PCM (or pictures) from a hub, for the consumers that need them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.audio.codeccontext import AudioCodecContext
from av.codec.context import CodecContext
from av.frame import Frame
from av.video.codeccontext import VideoCodecContext

from media.bounded import BufferClosed, DropOldestBuffer
from media.frames import (
    AUDIO_CLOCK_RATE,
    AUDIO_TIME_BASE,
    VIDEO_TIME_BASE,
    Codec,
    EncodedFrame,
    make_packet,
)

__all__ = ["DecodingTap"]


class DecodingTap(MediaStreamTrack):
    """Decodes a hub's frames, and only while it is subscribed.

    A transcriber, recorder or mixer subscribes a tap; forwarding legs never do, so a
    call nobody transcribes decodes nothing. Decoding runs in `recv()`, on the consumer's
    own schedule: one Opus frame is tens of microseconds, cheaper than a thread hop. Audio
    comes out as aiortc's receivers deliver it (48 kHz stereo s16), so a tap can stand in
    for a stock remote track.
    """

    def __init__(
        self,
        kind: Literal["audio", "video"],
        buffer: DropOldestBuffer[EncodedFrame],
        *,
        on_stop: Callable[[DecodingTap], None],
    ) -> None:
        super().__init__()
        self.kind = kind
        self._buffer = buffer
        self._on_stop = on_stop
        self._codec: AudioCodecContext | VideoCodecContext | None = None
        self._codec_name = ""
        self._ready: list[Frame] = []
        self.decode_errors = 0

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    async def recv(self) -> Frame:
        while not self._ready:
            if self.readyState != "live":
                raise MediaStreamError
            try:
                frame = await self._buffer.get()
            except BufferClosed:
                self.stop()
                raise MediaStreamError from None
            self._ready.extend(self._decode(frame))
        return self._ready.pop(0)

    def stop(self) -> None:
        if self.readyState == "live":
            self._buffer.close()
            self._on_stop(self)
            self._codec = None
        super().stop()

    def _decode(self, frame: EncodedFrame) -> list[Frame]:
        if self._codec is None or self._codec_name != frame.codec:
            self._codec = _create_decoder(frame.codec)
            self._codec_name = frame.codec
        time_base = AUDIO_TIME_BASE if frame.kind == "audio" else VIDEO_TIME_BASE
        packet = make_packet(frame.data, frame.timestamp, time_base)
        try:
            return list(self._codec.decode(packet))
        except av.FFmpegError:
            # Keep the decoder: its state lets the next frames decode (or conceal).
            self.decode_errors += 1
            return []


def _create_decoder(codec: Codec) -> AudioCodecContext | VideoCodecContext:
    if codec == "vp8":
        return CodecContext.create("libvpx", "r")
    if codec == "h264":
        return CodecContext.create("h264", "r")
    audio = CodecContext.create("libopus", "r")
    # What aiortc's own receivers produce, so consumers written for them work as is.
    audio.format = "s16"
    audio.layout = "stereo"
    audio.sample_rate = AUDIO_CLOCK_RATE
    return audio
