"""The video slate ("Connecting you…"): pictures encoded to VP8 keyframes, then replayed."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Sequence

import av
import numpy as np
import numpy.typing as npt
from av.codec.context import CodecContext

from media.bitmap_font import CELL_HEIGHT, text_mask
from media.frames import VIDEO_CLOCK_RATE, EncodedFrame, vp8_is_keyframe

__all__ = ["EncodedSlate", "SlateLines", "SlatePainter", "encode_vp8_keyframe", "render_slate"]

# The text of a slate, one string per line (empty: the plain panel).
SlateLines = tuple[str, ...]

# Tandem blue and a lighter panel, as YUV (BT.601, limited range); the text is white.
_BACKGROUND = (62, 170, 108)
_PANEL = (120, 150, 115)
_TEXT = (235, 128, 128)
# Keyframes of slates painted on demand (queue positions...), kept per painter.
_PAINTED = 64


class EncodedSlate:
    """One picture, encoded as a VP8 keyframe, sent a few times a second.

    Every frame is a keyframe, so a switch to the slate shows at once and a lost packet
    heals with the next frame: no encoder state, no per-call encoding. A still picture
    needs no more than a low frame rate. Each listener needs its own `EncodedSlate` (the
    pacing is per listener) over shared keyframes; `show()` changes the picture from the
    next frame on (e.g. a new queue position).
    """

    def __init__(self, keyframe: bytes, fps: float = 5.0) -> None:
        _check_keyframe(keyframe)
        self._keyframe = keyframe
        self._interval = 1.0 / fps
        self._step = round(VIDEO_CLOCK_RATE / fps)
        self._timestamp = 0
        self._due: float | None = None

    @classmethod
    def render(
        cls,
        width: int = 320,
        height: int = 240,
        *,
        lines: Sequence[str] = (),
        marks: int = 0,
        fps: float = 5.0,
    ) -> EncodedSlate:
        """A slate: a panel on Tandem blue with `lines` of text (or `marks` squares) on it.

        Encodes on the calling thread: at start-up.
        """
        picture = render_slate(width, height, lines=lines, marks=marks)
        return cls(encode_vp8_keyframe(picture), fps)

    @property
    def keyframe(self) -> bytes:
        return self._keyframe

    def show(self, keyframe: bytes) -> None:
        _check_keyframe(keyframe)
        self._keyframe = keyframe

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


class SlatePainter:
    """Slate keyframes by their text: each encoded once, then kept (the most recent 64).

    `paint()` encodes on the calling thread (a few milliseconds: start-up, tests);
    `paint_soon()` on a worker thread, and callers asking for the same text while it is
    being encoded share that one encoding.
    """

    def __init__(self, width: int = 320, height: int = 240) -> None:
        self.width = width
        self.height = height
        self._painted: OrderedDict[SlateLines, bytes] = OrderedDict()
        self._painting: dict[SlateLines, asyncio.Future[bytes]] = {}

    def painted(self, lines: SlateLines) -> bytes | None:
        keyframe = self._painted.get(lines)
        if keyframe is not None:
            self._painted.move_to_end(lines)
        return keyframe

    def paint(self, lines: SlateLines) -> bytes:
        keyframe = self.painted(lines)
        if keyframe is None:
            keyframe = self._keep(lines, self._encode(lines))
        return keyframe

    async def paint_soon(self, lines: SlateLines) -> bytes:
        keyframe = self.painted(lines)
        if keyframe is not None:
            return keyframe
        painting = self._painting.get(lines)
        if painting is None:
            painting = asyncio.ensure_future(asyncio.to_thread(self._encode, lines))
            self._painting[lines] = painting
            painting.add_done_callback(lambda done: self._painted_one(lines, done))
        # Shielded: one caller giving up does not cancel the encoding the others wait for.
        return await asyncio.shield(painting)

    def _encode(self, lines: SlateLines) -> bytes:
        return encode_vp8_keyframe(render_slate(self.width, self.height, lines=lines))

    def _painted_one(self, lines: SlateLines, done: asyncio.Future[bytes]) -> None:
        self._painting.pop(lines, None)
        if not done.cancelled() and done.exception() is None:
            self._keep(lines, done.result())

    def _keep(self, lines: SlateLines, keyframe: bytes) -> bytes:
        self._painted[lines] = keyframe
        self._painted.move_to_end(lines)
        while len(self._painted) > _PAINTED:
            self._painted.popitem(last=False)
        return keyframe


def render_slate(
    width: int, height: int, *, lines: Sequence[str] = (), marks: int = 0
) -> av.VideoFrame:
    """The slate picture: a panel on Tandem blue, `lines` of white text centred on it, or
    `marks` white squares in a row (a picture that says a number without text)."""
    if width % 16 or height % 16:
        raise ValueError("slate dimensions must be multiples of 16")
    planes = [
        np.full((height, width), _BACKGROUND[0], dtype=np.uint8),
        np.full((height // 2, width // 2), _BACKGROUND[1], dtype=np.uint8),
        np.full((height // 2, width // 2), _BACKGROUND[2], dtype=np.uint8),
    ]
    left, top, right, bottom = width // 8, height // 4, width * 7 // 8, height * 3 // 4
    _paint(planes, np.s_[top:bottom, left:right], _PANEL)
    size = max(8, width // 32 * 2)
    row = marks * size + max(0, marks - 1) * size
    for i in range(marks):
        x = (width - row) // 4 * 2 + i * 2 * size
        y = (height - size) // 4 * 2
        _paint(planes, np.s_[y : y + size, x : x + size], _TEXT)
    text = [line for line in lines if line]
    if text:
        # As large as fits the panel: whole pixels per font pixel, at least one.
        longest = max(len(line) for line in text)
        scale = max(1, min((right - left - 8) // (6 * longest), (bottom - top) // (11 * len(text))))
        line_height = (CELL_HEIGHT + 2) * scale
        y = (height - line_height * len(text)) // 4 * 2
        for line in text:
            mask = text_mask(line, scale)
            x = (width - mask.shape[1]) // 4 * 2
            _draw(planes, mask, x, y + scale)
            y += line_height
    frame = av.VideoFrame(width, height, "yuv420p")
    for plane, data in zip(frame.planes, planes, strict=True):
        padded = np.zeros((data.shape[0], plane.line_size), dtype=np.uint8)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes())
    return frame


def _paint(
    planes: list[npt.NDArray[np.uint8]], box: tuple[slice, slice], yuv: tuple[int, ...]
) -> None:
    rows, cols = box
    planes[0][rows, cols] = yuv[0]
    half = np.s_[rows.start // 2 : rows.stop // 2, cols.start // 2 : cols.stop // 2]
    planes[1][half] = yuv[1]
    planes[2][half] = yuv[2]


def _draw(planes: list[npt.NDArray[np.uint8]], mask: npt.NDArray[np.bool_], x: int, y: int) -> None:
    # Text too long for a small slate is cut at the edges rather than refused.
    frame_height, frame_width = planes[0].shape
    if x < 0:
        mask, x = mask[:, -x : -x + frame_width], 0
    if y < 0:
        mask, y = mask[-y:, :], 0
    mask = mask[: frame_height - y, : frame_width - x]
    height, width = mask.shape
    planes[0][y : y + height, x : x + width][mask] = _TEXT[0]
    # Chroma at half resolution: a sample is the text's colour if any of its 4 pixels is.
    even = np.zeros(((height + 1) // 2 * 2, (width + 1) // 2 * 2), dtype=np.bool_)
    even[:height, :width] = mask
    chroma = even.reshape(even.shape[0] // 2, 2, even.shape[1] // 2, 2).any(axis=(1, 3))
    rows, cols = np.s_[y // 2 : y // 2 + chroma.shape[0], x // 2 : x // 2 + chroma.shape[1]]
    planes[1][rows, cols][chroma] = _TEXT[1]
    planes[2][rows, cols][chroma] = _TEXT[2]


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


def _check_keyframe(keyframe: bytes) -> None:
    if not vp8_is_keyframe(keyframe):
        raise ValueError("the slate must be a VP8 keyframe")
