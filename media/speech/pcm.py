"""Sample-rate conversion (libswresample through PyAV) and cutting audio into 20 ms chunks."""

from __future__ import annotations

from typing import Any, Literal

import av
import numpy as np
import numpy.typing as npt

from media.speech.ports import FRAME_SAMPLES, SAMPLE_RATE, AudioChunk

__all__ = ["ChunkCutter", "Resampler", "chunk_from_frame", "float_to_s16"]


def float_to_s16(samples: npt.NDArray[np.float32]) -> npt.NDArray[np.int16]:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


class Resampler:
    """Mono audio from one rate to another, keeping the filter's state across calls.

    In: int16 or float32 samples. Out: `out_format` ("s16" -> int16, "flt" -> float32
    in [-1, 1]). Call `flush()` at the end of the audio for the samples the filter holds.
    """

    def __init__(self, in_rate: int, out_rate: int, out_format: Literal["s16", "flt"]) -> None:
        self._in_rate = in_rate
        self._dtype = np.int16 if out_format == "s16" else np.float32
        self._resampler = av.AudioResampler(format=out_format, layout="mono", rate=out_rate)

    def convert(self, samples: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> npt.NDArray[Any]:
        if samples.size == 0:
            return np.zeros(0, self._dtype)
        if samples.dtype == np.int16:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, np.int16).reshape(1, -1), format="s16", layout="mono"
            )
        else:
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples, np.float32).reshape(1, -1),
                format="flt",
                layout="mono",
            )
        frame.sample_rate = self._in_rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> npt.NDArray[Any]:
        return self._collect(self._resampler.resample(None))

    def _collect(self, frames: list[av.AudioFrame]) -> npt.NDArray[Any]:
        if not frames:
            return np.zeros(0, self._dtype)
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames]).astype(
            self._dtype, copy=False
        )


class ChunkCutter:
    """48 kHz int16 samples of any length in, exact 20 ms `AudioChunk`s out."""

    def __init__(self) -> None:
        self._rest = np.zeros(0, np.int16)

    def cut(self, samples: npt.NDArray[np.int16]) -> list[AudioChunk]:
        data = np.concatenate([self._rest, samples]) if self._rest.size else samples
        whole = data.size - data.size % FRAME_SAMPLES
        self._rest = data[whole:].copy()
        return [
            AudioChunk(data[i : i + FRAME_SAMPLES].tobytes(), SAMPLE_RATE)
            for i in range(0, whole, FRAME_SAMPLES)
        ]

    def flush(self) -> list[AudioChunk]:
        """The last partial chunk, padded with silence to 20 ms."""
        if not self._rest.size:
            return []
        padded = np.zeros(FRAME_SAMPLES, np.int16)
        padded[: self._rest.size] = self._rest
        self._rest = np.zeros(0, np.int16)
        return [AudioChunk(padded.tobytes(), SAMPLE_RATE)]


def chunk_from_frame(frame: av.AudioFrame) -> AudioChunk:
    """A decoded frame (aiortc's receivers and `DecodingTap` give 48 kHz stereo s16) as mono."""
    if frame.format.name != "s16" or frame.format.is_planar:
        raise ValueError(f"expected packed s16 audio, got {frame.format.name}")
    channels = len(frame.layout.channels)
    samples = frame.to_ndarray().reshape(-1, channels)
    mono = samples[:, 0] if channels == 1 else samples.mean(axis=1).astype(np.int16)
    return AudioChunk(mono.tobytes(), frame.sample_rate)
