"""Silero VAD (MIT, the ONNX model faster-whisper ships) as a streaming `SpeechDetector`.

Needs the `speech` extra (onnxruntime, faster-whisper): import this module lazily.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime

__all__ = ["SileroDetector", "SileroModel"]

_WINDOW = 512  # samples at 16 kHz: the model's fixed input
_CONTEXT = 64  # samples of the previous window the model sees with each one


class SileroModel:
    """The loaded model, shared by every stream's detector (an ONNX session is thread-safe)."""

    def __init__(self, session: onnxruntime.InferenceSession) -> None:
        self._session = session

    @classmethod
    def load(cls, path: Path | None = None) -> SileroModel:
        if path is None:
            from faster_whisper.utils import get_assets_path

            path = Path(get_assets_path()) / "silero_vad_v6.onnx"
        options = onnxruntime.SessionOptions()
        # A few windows per call: one thread is quicker than handing work between two.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        return cls(session)

    def run(self, inputs: dict[str, npt.NDArray[Any]]) -> list[npt.NDArray[np.float32]]:
        outputs: list[npt.NDArray[np.float32]] = self._session.run(None, inputs)
        return outputs


class SileroDetector:
    """One stream's detector: the model's recurrent state and the last window's tail."""

    window = _WINDOW

    def __init__(self, model: SileroModel, executor: Executor) -> None:
        self._model = model
        self._executor = executor
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros((1, _CONTEXT), np.float32)

    async def probabilities(self, audio: npt.NDArray[np.float32]) -> list[float]:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._probabilities, audio
        )

    def _probabilities(self, audio: npt.NDArray[np.float32]) -> list[float]:
        windows = audio.reshape(-1, _WINDOW)
        # Each row: the tail of the window before it, then the window (the model's layout).
        tails = np.concatenate([self._context, windows[:-1, -_CONTEXT:]], axis=0)
        batch = np.ascontiguousarray(np.concatenate([tails, windows], axis=1))
        probabilities, self._h, self._c = self._model.run(
            {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1:, -_CONTEXT:].copy()
        return [float(p) for p in probabilities.reshape(-1)]
