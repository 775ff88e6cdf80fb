"""The avatar's pictures, frame by frame, as I420 (yuv420p) straight for the VP8 encoder.

Everything that can be is prepared once (`AvatarLayers`, shared by every call showing
the same avatar): the face at rest converted to YUV on a canvas a few pixels larger than
the video, and the part of the face that moves (mouth and eyes) as small patches, one per
mouth shape and eyes open / closed. A frame is then two copies: the patch for this
instant onto the call's own canvas, and the video-sized window of that canvas, shifted by
the idle motion, into the frame. No drawing and no colour conversion per frame.
"""

from __future__ import annotations

import fractions
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import av
import numpy as np
import numpy.typing as npt

from media.digital_human.face import draw_face
from media.digital_human.images import AvatarImages, Rgb
from media.digital_human.motion import Motion

__all__ = ["I420", "AvatarLayers", "AvatarRenderer"]

I420 = npt.NDArray[np.uint8]  # (height * 3 // 2, width): Y, then U, then V, as PyAV lays it
_Plane = npt.NDArray[np.uint8]
_VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)


@dataclass(frozen=True, slots=True)
class _Planes:
    y: _Plane
    u: _Plane
    v: _Plane


def _i420(picture: Rgb) -> _Planes:
    """RGB to BT.601 limited-range YUV 4:2:0 (what WebRTC's VP8 carries), via libswscale."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
    converted = frame.reformat(format="yuv420p")
    planes = []
    for plane in converted.planes:
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        planes.append(rows[:, : plane.width].copy())
    return _Planes(*planes)


def _shared(planes: _Planes) -> _Planes:
    """Read-only from now on: the layers are shared by every call's renderer."""
    for plane in (planes.y, planes.u, planes.v):
        plane.flags.writeable = False
    return planes


@dataclass(frozen=True, slots=True, eq=False)
class AvatarLayers:
    """One avatar prepared for rendering at one size; immutable, share it between calls.

    `box` (top, left, bottom, right: even canvas coordinates) bounds every pixel that
    differs between the pictures; `patches[(shape, eyes_closed)]` is that box's content.
    """

    width: int
    height: int
    margin: int
    canvas: _Planes
    box: tuple[int, int, int, int]
    patches: Mapping[tuple[int, bool], _Planes]
    shapes: int
    blinks: bool

    @classmethod
    def build(
        cls, width: int = 640, height: int = 360, images: AvatarImages | None = None
    ) -> AvatarLayers:
        """Blocking (the drawn face: ~0.1-0.2 s; pictures: their scaling): at start-up."""
        if width % 4 or height % 4 or width < 16 or height < 16:
            raise ValueError("width and height must be multiples of 4, at least 16")
        pictures = images.fitted(width, height) if images is not None else draw_face(width, height)
        # Room for the idle motion: a few pixels of the picture's own edge all round.
        margin = max(4, round(4 * min(width / 640, height / 360)) // 2 * 2 + 2)

        def padded(picture: Rgb) -> Rgb:
            return np.pad(picture, ((margin, margin), (margin, margin), (0, 0)), mode="edge")

        neutral = padded(pictures.neutral)
        mouths = [padded(m) for m in pictures.mouths]
        blink = padded(pictures.blink) if pictures.blink is not None else None
        changed = np.zeros(neutral.shape[:2], np.bool_)
        for picture in [*mouths, *([blink] if blink is not None else [])]:
            changed |= np.any(picture != neutral, axis=2)
        box = _even_box(changed)
        top, left, bottom, right = box
        patches: dict[tuple[int, bool], _Planes] = {}
        eyes = np.any(blink != neutral, axis=2) if blink is not None else None
        for shape, mouth in enumerate(mouths):
            for closed in (False, True) if blink is not None else (False,):
                picture = mouth
                if closed and blink is not None:
                    picture = mouth.copy()
                    picture[eyes] = blink[eyes]
                # Converted whole, then cut: the chroma of the box's edge pixels is the
                # same as the canvas's, so the patch has no seam.
                whole = _i420(picture)
                patches[(shape, closed)] = _shared(
                    _Planes(
                        whole.y[top:bottom, left:right].copy(),
                        whole.u[top // 2 : bottom // 2, left // 2 : right // 2].copy(),
                        whole.v[top // 2 : bottom // 2, left // 2 : right // 2].copy(),
                    )
                )
        return cls(
            width=width,
            height=height,
            margin=margin,
            canvas=_shared(_i420(neutral)),
            box=box,
            patches=MappingProxyType(patches),
            shapes=len(mouths),
            blinks=blink is not None,
        )


def _even_box(changed: npt.NDArray[np.bool_]) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(changed.any(axis=1))
    cols = np.flatnonzero(changed.any(axis=0))
    if not rows.size:
        return (0, 0, 2, 2)  # nothing moves: a token patch
    height, width = changed.shape
    top, left = int(rows[0]) // 2 * 2, int(cols[0]) // 2 * 2
    bottom = min(height, (int(rows[-1]) + 2) // 2 * 2)
    right = min(width, (int(cols[-1]) + 2) // 2 * 2)
    return top, left, bottom, right


class AvatarRenderer:
    """One call's avatar: `render(t, openness)` is the picture at `t` seconds.

    `openness` (0 closed .. 1 widest) picks the nearest mouth shape. Blinks and sway
    follow `Motion(seed)`. Not thread-safe: one renderer per video track.
    """

    def __init__(
        self,
        width: int = 640,
        height: int = 360,
        images: AvatarImages | None = None,
        *,
        seed: int = 0,
        layers: AvatarLayers | None = None,
    ) -> None:
        if layers is None:
            layers = AvatarLayers.build(width, height, images)
        elif (layers.width, layers.height) != (width, height):
            raise ValueError("the layers were built for another size")
        self.layers = layers
        self.motion = Motion(seed=seed)
        canvas = layers.canvas
        # The call's own canvas: the patch for the instant is copied onto it, then the
        # frame is a window of it (the shared layers never change).
        self._canvas = _Planes(canvas.y.copy(), canvas.u.copy(), canvas.v.copy())
        self._shown: tuple[int, bool] | None = None

    @property
    def width(self) -> int:
        return self.layers.width

    @property
    def height(self) -> int:
        return self.layers.height

    @classmethod
    def shared(cls, layers: AvatarLayers, *, seed: int = 0) -> AvatarRenderer:
        return cls(layers.width, layers.height, seed=seed, layers=layers)

    def render(self, t: float, openness: float) -> I420:
        layers = self.layers
        shape = round(min(1.0, max(0.0, openness)) * (layers.shapes - 1))
        key = (shape, layers.blinks and self.motion.eyes_closed(t))
        if key != self._shown:
            self._stamp(layers.patches[key])
            self._shown = key
        dx, dy = self.motion.offset(t)
        margin = layers.margin
        row = margin + max(-margin, min(margin, round(dy)))
        col = margin + max(-margin, min(margin, round(dx)))
        width, height = layers.width, layers.height
        out = np.empty((height * 3 // 2, width), np.uint8)
        out[:height] = self._canvas.y[row : row + height, col : col + width]
        quarter = height // 4
        crow, ccol = row // 2, col // 2
        half = (height // 2, width // 2)
        out[height : height + quarter].reshape(half)[:] = self._canvas.u[
            crow : crow + half[0], ccol : ccol + half[1]
        ]
        out[height + quarter :].reshape(half)[:] = self._canvas.v[
            crow : crow + half[0], ccol : ccol + half[1]
        ]
        return out

    def video_frame(self, t: float, openness: float, pts: int) -> av.VideoFrame:
        """The picture as an `av.VideoFrame` (yuv420p), `pts` in 1/90000 s."""
        frame = av.VideoFrame.from_ndarray(self.render(t, openness), format="yuv420p")
        frame.pts = pts
        frame.time_base = _VIDEO_TIME_BASE
        return frame

    def _stamp(self, patch: _Planes) -> None:
        top, left, bottom, right = self.layers.box
        canvas = self._canvas
        canvas.y[top:bottom, left:right] = patch.y
        canvas.u[top // 2 : bottom // 2, left // 2 : right // 2] = patch.u
        canvas.v[top // 2 : bottom // 2, left // 2 : right // 2] = patch.v
