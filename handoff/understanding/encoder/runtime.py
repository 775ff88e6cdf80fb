"""The sentence encoder at serving time: WordPiece ids -> an ONNX Runtime session -> vectors."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from handoff.understanding.encoder.wordpiece import WordPiece

__all__ = ["SentenceEncoder"]

FloatArray = npt.NDArray[np.float32]


class SentenceEncoder:
    """Sentences -> unit vectors, with at most `max_tokens` word pieces read per sentence.

    Serving runs one thread per session: an utterance is small enough that splitting it
    across cores costs more in hand-offs than it saves, and the other core belongs to the
    rest of the server. The cap bounds the cost of a very long message; the intent model
    still reads all of it through its n-gram features.
    """

    def __init__(self, model: Path, tokenizer: WordPiece, *, max_tokens: int = 24) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._session: Any = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.dimension = int(self._session.get_outputs()[0].shape[1])

    def encode(self, text: str) -> FloatArray:
        """The unit vector of one sentence."""
        ids = np.asarray([self.tokenizer.encode(text, max_tokens=self.max_tokens)], np.int32)
        vector: FloatArray = self._run(ids, np.ones_like(ids))[0]
        return vector

    def encode_many(self, texts: Sequence[str], *, workers: int = 1) -> FloatArray:
        """One row per text, each encoded alone, exactly as `encode` would.

        Never batched: int8 quantisation scales each input by its own range, so a padded
        batch gives slightly different vectors (cosine 0.99) than serving one message,
        and a model trained on those would be scored on vectors it never saw. ONNX
        Runtime releases the GIL while it runs, so `workers` threads share the session.
        """
        if workers <= 1:
            return np.stack([self.encode(text) for text in texts])
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="encoder") as pool:
            return np.stack(list(pool.map(self.encode, texts)))

    def _run(self, tokens: npt.NDArray[np.int32], mask: npt.NDArray[np.int32]) -> FloatArray:
        feeds = {"input_ids": tokens, "segment_ids": np.zeros_like(tokens), "attention_mask": mask}
        result: FloatArray = self._session.run(None, feeds)[0]
        return result
