"""Measuring the avatar from pictures, as a viewer would: how open the mouth looks.

Shared by the digital human's unit and loopback tests. The mouth region is found from
the avatar's own layers (where the widest and the closed mouth differ), then widened by
the idle motion's reach, so the measure does not depend on where the head has swayed.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from media.digital_human.avatar import AvatarLayers

Region = tuple[slice, slice]


def mouth_region(layers: AvatarLayers) -> Region:
    closed = layers.patches[(0, False)].y
    widest = layers.patches[(layers.shapes - 1, False)].y
    changed = np.argwhere(closed != widest)
    top, left, _, _ = layers.box
    reach = layers.margin
    # Canvas -> frame coordinates (the frame starts `margin` into the canvas), widened.
    (first_row, first_col), (last_row, last_col) = changed.min(axis=0), changed.max(axis=0)
    rows = slice(max(0, int(first_row) + top - 2 * reach), int(last_row) + top + 1)
    cols = slice(max(0, int(first_col) + left - 2 * reach), int(last_col) + left + 1)
    return rows, cols


def mouth_darkness(luma: npt.NDArray[np.uint8], region: Region, skin: int = 195) -> float:
    """Mean darkness (skin luma minus pixel luma, not below 0) of the mouth region."""
    pixels = luma[region].astype(np.float32)
    return float(np.clip(skin - pixels, 0, None).mean())


def write_png(path: Path, picture: npt.NDArray[np.uint8]) -> None:
    """An RGB or RGBA picture as a PNG file (PyAV's encoder: no image library)."""
    layout = "rgba" if picture.shape[2] == 4 else "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format=layout)
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, layout
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    path.write_bytes(b"".join(bytes(p) for p in packets))
