"""The drawn face: a friendly, stylised person in a bank's navy jacket, drawn with numpy.

Drawn once per size (tens of milliseconds) as the same pictures a bank would supply
(`AvatarImages`: at rest, mouth shapes, eyes closed), so the renderer has one path for
both. Shapes are ellipses with a one-pixel soft edge (a signed distance), which is all
the anti-aliasing a 640x360 video needs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from media.digital_human.images import AvatarImages

__all__ = ["MOUTH_SHAPES", "draw_face"]

MOUTH_SHAPES = 12

_Canvas = npt.NDArray[np.float32]  # (height, width, 3), 0..255
_Alpha = npt.NDArray[np.float32]  # (height, width), 0..1

_SKY_TOP = (222, 231, 242)
_SKY_BOTTOM = (176, 195, 221)
_JACKET = (36, 58, 104)
_SHIRT = (240, 242, 246)
_SKIN = (241, 201, 168)
_SKIN_SHADE = (222, 174, 140)
_HAIR = (74, 50, 40)
_BLUSH = (238, 150, 140)
_SCLERA = (252, 252, 250)
_IRIS = (72, 98, 134)
_PUPIL = (22, 22, 28)
_LIPS = (186, 86, 88)
_MOUTH = (72, 24, 34)
_TEETH = (247, 246, 240)
_TONGUE = (206, 104, 112)
_LASH = (62, 42, 38)


@dataclass(frozen=True, slots=True)
class _Grid:
    """Pixel-centre coordinates in units of the 640x360 design, so shapes scale."""

    x: npt.NDArray[np.float32]  # (width,)
    y: npt.NDArray[np.float32]  # (height,)
    scale: float


@dataclass(frozen=True, slots=True)
class _Shape:
    """A shape's coverage (0..1) over a box of the picture: `rows` x `cols`."""

    rows: slice
    cols: slice
    alpha: _Alpha


def draw_face(width: int = 640, height: int = 360) -> AvatarImages:
    grid = _grid(width, height)
    base = _background(grid, width, height)
    _draw_person(base, grid)
    mouths = []
    for shape in range(MOUTH_SHAPES):
        picture = base.copy()
        _draw_mouth(picture, grid, shape / (MOUTH_SHAPES - 1))
        mouths.append(_pixels(picture))
    closed = base.copy()
    _draw_mouth(closed, grid, 0.0)
    blink = closed.copy()
    for side in (-1, 1):
        _draw_closed_eye(blink, grid, side)
    return AvatarImages(_pixels(closed), tuple(mouths), _pixels(blink))


def _grid(width: int, height: int) -> _Grid:
    # The design is 640x360; other sizes keep its proportions, centred.
    scale = min(width / 640, height / 360)
    x = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / scale + 320
    y = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / scale + 180
    return _Grid(x, y, scale)


def _background(grid: _Grid, width: int, height: int) -> _Canvas:
    share = np.clip(grid.y / 360, 0, 1)[:, None, None]
    top, bottom = np.asarray(_SKY_TOP, np.float32), np.asarray(_SKY_BOTTOM, np.float32)
    column = top * (1 - share) + bottom * share
    return np.ascontiguousarray(np.broadcast_to(column, (height, width, 3)), np.float32)


def _box(grid: _Grid, cx: float, cy: float, rx: float, ry: float) -> tuple[slice, slice]:
    margin = 2 / grid.scale
    rows = np.searchsorted(grid.y, (cy - ry - margin, cy + ry + margin))
    cols = np.searchsorted(grid.x, (cx - rx - margin, cx + rx + margin))
    return slice(int(rows[0]), int(rows[1])), slice(int(cols[0]), int(cols[1]))


def _ellipse(
    grid: _Grid,
    cx: float,
    cy: float,
    rx: float,
    ry_top: float,
    ry_bottom: float | None = None,
    *,
    over: _Shape | None = None,
) -> _Shape:
    """Coverage of an ellipse (its lower half may have another radius: a smile's shape),
    computed over its own box, or over `over`'s to be combined with it."""
    ry_low = ry_top if ry_bottom is None else ry_bottom
    rows, cols = (over.rows, over.cols) if over else _box(grid, cx, cy, rx, max(ry_top, ry_low))
    y = grid.y[rows][:, None]
    x = grid.x[cols][None, :]
    ry = np.where(y < cy, ry_top, ry_low)
    dx, dy = (x - cx) / rx, (y - cy) / ry
    # Approximate signed distance in design pixels, then in output pixels.
    distance = (np.sqrt(dx * dx + dy * dy) - 1) * np.minimum(rx, ry)
    return _Shape(rows, cols, np.asarray(np.clip(0.5 - distance * grid.scale, 0, 1), np.float32))


def _with(shape: _Shape, alpha: npt.NDArray[np.float32]) -> _Shape:
    return _Shape(shape.rows, shape.cols, np.asarray(np.clip(alpha, 0, 1), np.float32))


def _paint(
    canvas: _Canvas, shape: _Shape, colour: tuple[int, int, int], opacity: float = 1
) -> None:
    region = canvas[shape.rows, shape.cols]
    a = (shape.alpha * opacity)[..., None]
    region *= 1 - a
    region += a * np.asarray(colour, np.float32)


def _draw_person(canvas: _Canvas, grid: _Grid) -> None:
    cx, cy = 320.0, 186.0
    _paint(canvas, _ellipse(grid, cx, 420, 196, 118), _JACKET)
    collar = _ellipse(grid, cx, 318, 34, 26)
    _paint(canvas, _with(collar, collar.alpha * (grid.y[collar.rows] > 300)[:, None]), _SHIRT)
    _paint(canvas, _ellipse(grid, cx, 286, 33, 42), _SKIN_SHADE)
    _paint(canvas, _ellipse(grid, cx + 4, cy - 14, 108, 124), _HAIR)
    for side in (-1, 1):
        _paint(canvas, _ellipse(grid, cx + side * 93, cy + 6, 14, 22), _SKIN_SHADE)
    _paint(canvas, _ellipse(grid, cx, cy, 92, 116, 112), _SKIN)
    fringe = _ellipse(grid, cx + 14, cy - 112, 110, 58)
    head = _ellipse(grid, cx, cy, 97, 120, over=fringe)
    _paint(canvas, _with(fringe, np.minimum(fringe.alpha, head.alpha)), _HAIR)
    for side in (-1, 1):
        _paint(canvas, _ellipse(grid, cx + side * 52, cy + 30, 18, 10), _BLUSH, 0.35)
        ex, ey = cx + side * 36, cy - 10
        _paint(canvas, _ellipse(grid, ex, ey, 15, 11), _SCLERA)
        _paint(canvas, _ellipse(grid, ex + 1, ey + 1, 8, 8), _IRIS)
        _paint(canvas, _ellipse(grid, ex + 1, ey + 1, 4, 4), _PUPIL)
        _paint(canvas, _ellipse(grid, ex + 4, ey - 2, 2, 2), _SCLERA)
        arch = _ellipse(grid, ex, ey - 18, 19, 8)
        under = _ellipse(grid, ex, ey - 14, 20, 8, over=arch)
        _paint(canvas, _with(arch, arch.alpha - under.alpha), _HAIR)
    _paint(canvas, _ellipse(grid, cx, cy + 22, 9, 5), _SKIN_SHADE, 0.8)


def _draw_mouth(canvas: _Canvas, grid: _Grid, openness: float) -> None:
    """Closed: a lens curving down (a smile); open: lips around a dark mouth, the upper
    teeth showing, the tongue low."""
    cx, cy = 320.0, 238.0
    rx = 24 + 4 * openness
    top, bottom = 1.6 + 5 * openness, 4.0 + 20 * openness
    lips = _ellipse(grid, cx, cy, rx, top, bottom)
    _paint(canvas, lips, _LIPS)
    if openness <= 0:
        return
    inner = _ellipse(grid, cx, cy, rx - 3, max(0.5, top - 2.5), max(0.5, bottom - 3), over=lips)
    _paint(canvas, inner, _MOUTH)
    upper = grid.y[inner.rows] < cy - top + 2.5 + 3 * openness
    _paint(canvas, _with(inner, inner.alpha * upper[:, None]), _TEETH)
    tongue = _ellipse(grid, cx, cy + bottom * 0.75, rx * 0.55, bottom * 0.45, over=inner)
    _paint(canvas, _with(inner, np.minimum(inner.alpha, tongue.alpha)), _TONGUE)


def _draw_closed_eye(canvas: _Canvas, grid: _Grid, side: int) -> None:
    ex, ey = 320.0 + side * 36, 176.0
    _paint(canvas, _ellipse(grid, ex, ey, 17, 13), _SKIN)
    _paint(canvas, _ellipse(grid, ex, ey + 2, 15, 1.2, 3.2), _LASH)


def _pixels(canvas: _Canvas) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(np.clip(np.round(canvas), 0, 255).astype(np.uint8))
