"""The trained intent model as plain arrays: TF-IDF vocabularies, linear weights, a temperature.

Serving needs no machine-learning library and no pickle: the file is an `.npz` read with
`allow_pickle=False`, so a cache file can never run code, and scoring one utterance is
a few dictionary look-ups and one small matrix product.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from handoff.understanding.text import char_ngrams, normalise, word_ngrams

__all__ = ["FeatureBlock", "IntentModel", "softmax"]

FloatArray = npt.NDArray[np.float32]

# One analyser per block; a block's features are L2-normalised on their own, as
# scikit-learn's FeatureUnion of two TfidfVectorizers does in training.
ANALYSERS: Mapping[str, Callable[..., list[str]]] = MappingProxyType(
    {"word": word_ngrams, "char": char_ngrams}
)


@dataclass(frozen=True, slots=True)
class FeatureBlock:
    """A sublinear-tf TF-IDF vocabulary: term -> column, and each column's idf.

    `name` picks the analyser ("word" or "char") and `sizes` its n-gram range.
    """

    name: str
    sizes: tuple[int, int]
    vocabulary: Mapping[str, int]
    idf: FloatArray

    def vector(self, text: str) -> tuple[list[int], FloatArray]:
        """Columns and L2-normalised weights of the known terms of normalised `text`."""
        counts = Counter(ANALYSERS[self.name](text, sizes=self.sizes))
        columns: list[int] = []
        weights: list[float] = []
        for term, count in counts.items():
            column = self.vocabulary.get(term)
            if column is not None:
                columns.append(column)
                weights.append((1.0 + math.log(count)) * float(self.idf[column]))
        values = np.asarray(weights, dtype=np.float32)
        norm = float(np.linalg.norm(values))
        return columns, (values / norm if norm > 0.0 else values)


def softmax(scores: FloatArray, temperature: float) -> FloatArray:
    """Probabilities from scores; a temperature above 1 flattens them."""
    scaled = scores / temperature
    scaled = scaled - scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    result: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return result


class IntentModel:
    """Linear intent scores over word and character TF-IDF blocks, temperature-calibrated.

    A model trained with sentence vectors (`embedding` is not None: one row per vector
    dimension) also scores the utterance's encoder vector, which the caller passes in.
    """

    def __init__(
        self,
        *,
        labels: Sequence[str],
        blocks: Sequence[FeatureBlock],
        weights: Sequence[FloatArray],
        intercept: FloatArray,
        temperature: float,
        metadata: Mapping[str, Any],
        embedding: FloatArray | None = None,
    ) -> None:
        if len(blocks) != len(weights):
            raise ValueError("one weight matrix per feature block")
        for block, matrix in zip(blocks, weights, strict=True):
            if matrix.shape != (len(block.vocabulary), len(labels)):
                raise ValueError(f"block {block.name!r}: weights do not fit the vocabulary")
        self.labels: tuple[str, ...] = tuple(labels)
        self.blocks: tuple[FeatureBlock, ...] = tuple(blocks)
        # Stored feature-major so one utterance gathers a few contiguous rows.
        self.weights: tuple[FloatArray, ...] = tuple(weights)
        self.intercept = intercept
        if embedding is not None and embedding.shape[1] != len(labels):
            raise ValueError("embedding weights do not fit the labels")
        self.embedding = embedding
        self.temperature = float(temperature)
        self.metadata: Mapping[str, Any] = MappingProxyType(dict(metadata))

    @property
    def needs_vector(self) -> bool:
        return self.embedding is not None

    def scores(self, text: str, vector: FloatArray | None = None) -> FloatArray:
        """Uncalibrated per-intent scores of raw `text` (one per label); `vector` is the
        text's sentence vector, required exactly when the model `needs_vector`."""
        normalised = normalise(text)
        total = self.intercept.copy()
        for block, matrix in zip(self.blocks, self.weights, strict=True):
            columns, values = block.vector(normalised)
            if columns:
                total += values @ matrix[columns]
        if self.embedding is not None:
            if vector is None:
                raise ValueError("this intent model needs the sentence vector")
            total += vector @ self.embedding
        return total

    def probabilities(self, text: str, vector: FloatArray | None = None) -> FloatArray:
        return softmax(self.scores(text, vector), self.temperature)

    # -- persistence -------------------------------------------------------------

    def save(self, file: BinaryIO) -> None:
        arrays: dict[str, npt.NDArray[Any]] = {
            "labels": np.asarray(self.labels, dtype=np.str_),
            "intercept": self.intercept,
            "temperature": np.asarray([self.temperature], dtype=np.float64),
            "metadata": np.asarray([json.dumps(dict(self.metadata), sort_keys=True)]),
            "blocks": np.asarray([block.name for block in self.blocks], dtype=np.str_),
        }
        for block, matrix in zip(self.blocks, self.weights, strict=True):
            terms = sorted(block.vocabulary, key=block.vocabulary.__getitem__)
            arrays[f"{block.name}.terms"] = np.asarray(terms, dtype=np.str_)
            arrays[f"{block.name}.idf"] = block.idf
            arrays[f"{block.name}.sizes"] = np.asarray(block.sizes, dtype=np.int64)
            arrays[f"{block.name}.weights"] = matrix
        if self.embedding is not None:
            arrays["embedding.weights"] = self.embedding
        np.savez(file, allow_pickle=False, **arrays)

    @classmethod
    def load(cls, path: Path) -> IntentModel:
        with np.load(path, allow_pickle=False) as archive:
            blocks: list[FeatureBlock] = []
            weights: list[FloatArray] = []
            for name in archive["blocks"].tolist():
                terms = archive[f"{name}.terms"].tolist()
                vocabulary = {term: index for index, term in enumerate(terms)}
                idf = archive[f"{name}.idf"].astype(np.float32)
                low, high = (int(n) for n in archive[f"{name}.sizes"])
                blocks.append(FeatureBlock(name, (low, high), MappingProxyType(vocabulary), idf))
                weights.append(np.ascontiguousarray(archive[f"{name}.weights"], np.float32))
            embedding = (
                np.ascontiguousarray(archive["embedding.weights"], np.float32)
                if "embedding.weights" in archive
                else None
            )
            return cls(
                labels=archive["labels"].tolist(),
                blocks=blocks,
                weights=weights,
                intercept=archive["intercept"].astype(np.float32),
                temperature=float(archive["temperature"][0]),
                metadata=json.loads(str(archive["metadata"][0])),
                embedding=embedding,
            )
