"""A still video slate ("please hold"), encoded to VP8 once and replayed."""

from __future__ import annotations

import asyncio
import time

import av
from av.codec.context import CodecContext

from media.frames import VIDEO_CLOCK_RATE, EncodedFrame, vp8_is_keyframe

__all__ = ["EncodedSlate", "encode_vp8_keyframe", "render_slate"]

# Tandem blue and a lighter panel, as YUV (BT.601, limited range).
_BACKGROUND = (62, 170, 108)
_PANEL = (120, 150, 115)
_MARK = (235, 128, 128)


class EncodedSlate:
    """One picture, encoded as a VP8 keyframe at start-up, sent a few times a second.

    Every frame is the same keyframe, so a switch to the slate shows at once and a lost
    packet heals with the next frame: no encoder state, no per-call encoding. A still
    picture needs no more than a low frame rate. Render once at start-up; each listener
    needs its own `EncodedSlate(slate.keyframe)`, as the pacing is per listener.
    """

    def __init__(self, keyframe: bytes, fps: float = 5.0) -> None:
        if not vp8_is_keyframe(keyframe):
            raise ValueError("the slate must be a VP8 keyframe")
        self._keyframe = keyframe
        self._interval = 1.0 / fps
        self._step = round(VIDEO_CLOCK_RATE / fps)
        self._timestamp = 0
        self._due: float | None = None

    @classmethod
    def render(
        cls, width: int = 320, height: int = 240, *, marks: int = 0, fps: float = 5.0
    ) -> EncodedSlate:
        """A plain slate: a panel on Tandem blue with `marks` squares (a queue position)."""
        return cls(encode_vp8_keyframe(render_slate(width, height, marks=marks)), fps)

    @property
    def keyframe(self) -> bytes:
        return self._keyframe

    async def next_frame(self) -> EncodedFrame:
        """The next frame at the slate's rate; safe to cancel."""
        now = time.monotonic()
        if self._due is None or now - self._due > 1.0:
            self._due = now
        if self._due > now:
            await asyncio.sleep(self._due - now)
        self._due += self._interval
        frame = EncodedFrame("vp8", self._keyframe, self._timestamp, keyframe=True)
        self._timestamp += self._step
        return frame


def render_slate(width: int, height: int, *, marks: int = 0) -> av.VideoFrame:
    if width % 16 or height % 16:
        raise ValueError("slate dimensions must be multiples of 16")
    chroma = (width // 2) * (height // 2)
    planes = [
        bytearray([_BACKGROUND[0]]) * (width * height),
        bytearray([_BACKGROUND[1]]) * chroma,
        bytearray([_BACKGROUND[2]]) * chroma,
    ]
    _fill(planes, width, (width // 8, height // 4, width * 7 // 8, height * 3 // 4), _PANEL)
    size = max(8, (width // 16) // 2 * 2)
    gap = size
    total = marks * size + max(0, marks - 1) * gap
    left = (width - total) // 2 // 2 * 2
    top = (height - size) // 2 // 2 * 2
    for i in range(marks):
        x = left + i * (size + gap)
        _fill(planes, width, (x, top, x + size, top + size), _MARK)
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data, plane_width in zip(
        frame.planes, planes, (width, width // 2, width // 2), strict=True
    ):
        rows = len(data) // plane_width
        padded = bytearray()
        for row in range(rows):
            line = data[row * plane_width : (row + 1) * plane_width]
            padded += line + bytes(plane.line_size - plane_width)
        plane.update(bytes(padded))
    return frame


def _fill(
    planes: list[bytearray], width: int, box: tuple[int, int, int, int], colour: tuple[int, ...]
) -> None:
    x0, y0, x1, y1 = box
    for y in range(y0, y1):
        planes[0][y * width + x0 : y * width + x1] = bytes([colour[0]]) * (x1 - x0)
    half = width // 2
    for y in range(y0 // 2, y1 // 2):
        for index in (1, 2):
            planes[index][y * half + x0 // 2 : y * half + x1 // 2] = bytes([colour[index]]) * (
                (x1 - x0) // 2
            )


def encode_vp8_keyframe(frame: av.VideoFrame, bit_rate: int = 300_000) -> bytes:
    encoder = CodecContext.create("libvpx", "w")
    encoder.width = frame.width
    encoder.height = frame.height
    encoder.pix_fmt = "yuv420p"
    encoder.bit_rate = bit_rate
    encoder.options = {"deadline": "good", "lag-in-frames": "0"}
    frame.pts = 0
    data = b"".join(bytes(p) for p in encoder.encode(frame))
    data += b"".join(bytes(p) for p in encoder.encode(None))
    return data
