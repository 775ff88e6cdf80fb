"""Measuring the avatar from pictures, as a viewer would: how open the mouth looks.

Shared by the digital human's unit, loopback and end-to-end tests. The mouth region is
found from the avatar's own layers (where the widest and the closed mouth differ), then
widened by the idle motion's reach, so the measure does not depend on where the head has
swayed. `mouth_and_energy` pairs each received picture's mouth with the audio received
in that picture's interval, for a lip-sync correlation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np
import numpy.typing as npt

from media.digital_human.avatar import AvatarLayers

Region = tuple[slice, slice]
Arrivals = Sequence[tuple[float, Any]]  # (arrival time, decoded av frame)


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


def audio_rms(frame: av.AudioFrame) -> float:
    """RMS of a decoded s16 frame's first channel, 0..1."""
    samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0]
    return float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) / 32768


def mouth_and_energy(
    audio: Arrivals,
    video: Arrivals,
    layers: AvatarLayers,
    start: float,
    end: float,
    fps: float,
) -> tuple[list[float], list[float]]:
    """Per picture that arrived in [start, end]: the mouth's darkness, and the RMS of the
    audio received in the picture's own interval (the 1/fps s before it arrived)."""
    region = mouth_region(layers)
    levels = [(t, audio_rms(f)) for t, f in audio if start - 0.2 <= t <= end]
    mouths, energies = [], []
    for arrived, picture in video:
        if not start <= arrived <= end:
            continue
        luma = picture.to_ndarray(format="yuv420p")[: layers.height]
        near = [rms for t, rms in levels if arrived - 1 / fps < t <= arrived]
        mouths.append(mouth_darkness(luma, region))
        energies.append(float(np.sqrt(np.mean(np.square(near)))) if near else 0.0)
    return mouths, energies


def correlation(mouths: Sequence[float], energies: Sequence[float]) -> float:
    """Pearson's r of the mouth's darkness and the audio's energy."""
    return float(np.corrcoef(mouths, energies)[0, 1])


def write_png(path: Path, picture: npt.NDArray[np.uint8]) -> None:
    """An RGB or RGBA picture as a PNG file (PyAV's encoder: no image library)."""
    layout = "rgba" if picture.shape[2] == 4 else "rgb24"
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format=layout)
    encoder = av.CodecContext.create("png", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frame.width, frame.height, layout
    packets = [*encoder.encode(frame), *encoder.encode(None)]
    path.write_bytes(b"".join(bytes(p) for p in packets))
