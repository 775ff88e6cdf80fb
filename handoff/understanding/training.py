"""Training the intent model on CPU with scikit-learn, and cross-validating it.

Only this module (and only at build time) imports scikit-learn; the result is an
`IntentModel` of plain arrays. The method was chosen by stratified 5-fold
cross-validation on BANKING77 (see loadtests/bench_understanding.py and the package
README): word 1-2-grams plus in-word character 1-4-grams, sublinear TF-IDF, a one-vs-rest
linear SVM, and a temperature fitted on held-out margins for calibrated confidence.
A second model adds the sentence encoder's vector as 384 more (scaled) features; the
classifier consults it only for the messages the first model is unsure of.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse  # type: ignore[import-untyped]
from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
from sklearn.model_selection import (  # type: ignore[import-untyped]
    StratifiedKFold,
    StratifiedShuffleSplit,
)
from sklearn.pipeline import FeatureUnion  # type: ignore[import-untyped]
from sklearn.svm import LinearSVC  # type: ignore[import-untyped]
from sklearn.utils.parallel import Parallel, delayed  # type: ignore[import-untyped]

from handoff.understanding.calibration import fit_temperature
from handoff.understanding.config import DEFAULT_CONFIG, MODEL_VERSION, TrainingConfig
from handoff.understanding.datasets import LabelledText
from handoff.understanding.model import FeatureBlock, IntentModel, softmax
from handoff.understanding.text import char_ngrams, normalise, word_ngrams

__all__ = ["HeldOut", "cross_validate", "train"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Held-out rows: `scores[i]` are the n-gram model's margins for `texts[i]`,
    `probabilities[i]` what the classifier reports (calibrated, after refinement when
    vectors were given), `refined[i]` whether the vector model decided, `truth[i]` the label.
    """

    labels: tuple[str, ...]
    texts: tuple[str, ...]
    scores: FloatArray
    probabilities: FloatArray
    refined: npt.NDArray[np.bool_]
    truth: IntArray
    temperatures: tuple[float, ...] = field(default=())
    fold_of: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


def _analyser(analyse: Callable[..., list[str]], sizes: tuple[int, int], text: str) -> list[str]:
    return analyse(normalise(text), sizes=sizes)


class _Fitted:
    """Fitted vectorisers and SVM, kept only to score many rows at once while training.

    With `vectors` (one sentence vector per text), they join the n-gram features scaled by
    `config.vector_scale`: each block is unit length, so the scale weighs the encoder
    against the n-grams (2 was best of 1, 2, 3 in cross-validation).
    """

    def __init__(
        self,
        texts: Sequence[str],
        truth: IntArray,
        config: TrainingConfig,
        vectors: FloatArray | None = None,
    ) -> None:
        self.config = config
        self.uses_vectors = vectors is not None
        self.vectorisers = [
            TfidfVectorizer(
                analyzer=functools.partial(_analyser, analyse, sizes),
                sublinear_tf=True,
                dtype=np.float32,
            )
            for analyse, sizes in (
                (word_ngrams, config.word_sizes),
                (char_ngrams, config.char_sizes),
            )
        ]
        # Each vectoriser L2-normalises its own block and the union only concatenates them:
        # IntentModel.scores does the same per FeatureBlock when serving.
        self.union = FeatureUnion([("word", self.vectorisers[0]), ("char", self.vectorisers[1])])
        matrix = self._with_vectors(self.union.fit_transform(texts), vectors)
        self.svm = LinearSVC(C=config.c, random_state=config.seed).fit(matrix, truth)

    def _with_vectors(self, matrix: Any, vectors: FloatArray | None) -> Any:
        if vectors is None:
            return matrix
        scaled = sparse.csr_matrix(vectors * self.config.vector_scale)
        return sparse.hstack([matrix, scaled]).tocsr()

    def decision(self, texts: Sequence[str], vectors: FloatArray | None = None) -> FloatArray:
        if self.uses_vectors != (vectors is not None):
            raise ValueError("score with vectors exactly when fitted with them")
        matrix = self._with_vectors(self.union.transform(texts), vectors)
        scores: FloatArray = self.svm.decision_function(matrix).astype(np.float32)
        return scores

    def to_model(
        self, labels: Sequence[str], temperature: float, metadata: dict[str, object]
    ) -> IntentModel:
        coefficients = np.asarray(self.svm.coef_, dtype=np.float32)
        blocks: list[FeatureBlock] = []
        weights: list[FloatArray] = []
        start = 0
        named = (("word", self.config.word_sizes), ("char", self.config.char_sizes))
        for (name, sizes), vectoriser in zip(named, self.vectorisers, strict=True):
            vocabulary = {str(term): int(col) for term, col in vectoriser.vocabulary_.items()}
            size = len(vocabulary)
            idf = vectoriser.idf_.astype(np.float32)
            blocks.append(FeatureBlock(name, sizes, vocabulary, idf))
            weights.append(np.ascontiguousarray(coefficients[:, start : start + size].T))
            start += size
        embedding = None
        if self.uses_vectors:
            # The scale is folded into the weights: serving passes the raw unit vector.
            embedding = np.ascontiguousarray(
                coefficients[:, start:].T * self.config.vector_scale, dtype=np.float32
            )
        return IntentModel(
            labels=labels,
            blocks=blocks,
            weights=weights,
            intercept=np.asarray(self.svm.intercept_, dtype=np.float32),
            temperature=temperature,
            metadata=metadata,
            embedding=embedding,
        )


def _encode(rows: Sequence[LabelledText], labels: Sequence[str]) -> IntArray:
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray([index[row.intent] for row in rows], dtype=np.intp)


def _rows(vectors: FloatArray | None, index: IntArray) -> FloatArray | None:
    return None if vectors is None else vectors[index]


def _fold_scores(
    texts: Sequence[str],
    truth: IntArray,
    train_index: IntArray,
    test_index: IntArray,
    config: TrainingConfig,
    vectors: FloatArray | None = None,
) -> FloatArray:
    fitted = _Fitted(
        [texts[i] for i in train_index], truth[train_index], config, _rows(vectors, train_index)
    )
    return fitted.decision([texts[i] for i in test_index], _rows(vectors, test_index))


def _splits(truth: IntArray, folds: int, seed: int) -> list[tuple[IntArray, IntArray]]:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(truth)), truth))


def _fit_and_calibrate(
    texts: Sequence[str],
    truth: IntArray,
    config: TrainingConfig,
    vectors: FloatArray | None = None,
) -> tuple[_Fitted, float]:
    """The model on all rows, and the temperature from a sibling fitted without a held-out
    share; both fits run at once, so on two cores the build takes about one fit's time."""
    splitter = StratifiedShuffleSplit(
        n_splits=1, test_size=config.calibration_holdout, random_state=config.seed
    )
    train_index, test_index = next(splitter.split(np.zeros(len(truth)), truth))
    tasks = [
        delayed(_fold_scores)(texts, truth, train_index, test_index, config, vectors),
        delayed(_Fitted)(texts, truth, config, vectors),
    ]
    held_out, fitted = Parallel(n_jobs=config.jobs)(tasks)
    return fitted, fit_temperature(held_out, truth[test_index])


def train(
    rows: Sequence[LabelledText],
    labels: Sequence[str],
    config: TrainingConfig = DEFAULT_CONFIG,
    *,
    vectors: FloatArray | None = None,
    metadata: dict[str, object] | None = None,
) -> IntentModel:
    """Fit the intent model on `rows` (with their sentence `vectors`, one row each, if
    given) and calibrate its confidence on held-out margins."""
    began = time.perf_counter()
    texts = [row.text for row in rows]
    truth = _encode(rows, labels)
    if len(labels) < 3 or len(set(truth.tolist())) != len(labels):
        raise ValueError("every intent needs training rows, and there must be 3 or more")
    if vectors is not None and len(vectors) != len(rows):
        raise ValueError("one sentence vector per row")
    fitted, temperature = _fit_and_calibrate(texts, truth, config, vectors)
    info: dict[str, object] = {
        "model_version": MODEL_VERSION,
        "rows": len(rows),
        "config": config.key_parts(),
        "vectors": vectors is not None,
        **(metadata or {}),
    }
    info["training_seconds"] = round(time.perf_counter() - began, 3)
    return fitted.to_model(labels, temperature, info)


def cross_validate(
    rows: Sequence[LabelledText],
    labels: Sequence[str],
    config: TrainingConfig = DEFAULT_CONFIG,
    *,
    folds: int = 5,
    only: int | None = None,
    vectors: FloatArray | None = None,
) -> HeldOut:
    """Stratified k-fold scores of every row (or only of fold `only`), never of training rows.

    Each outer fold's models calibrate their temperatures on their own training part
    (nested), so the held-out confidence is what a deployed classifier would report. With
    `vectors`, each fold also fits the vector model, and a row the n-gram model is unsure
    of (below `config.refine_below`) takes the vector model's answer, as serving does.
    """
    texts = [row.text for row in rows]
    truth = _encode(rows, labels)
    splits = _splits(truth, folds, config.seed)
    if only is not None:
        splits = [splits[only]]
    scores: list[FloatArray] = []
    reported: list[FloatArray] = []
    refined: list[npt.NDArray[np.bool_]] = []
    picked: list[IntArray] = []
    fold_ids: list[IntArray] = []
    temperatures: list[float] = []
    for fold, (train_index, test_index) in enumerate(splits):
        train_texts = [texts[i] for i in train_index]
        test_texts = [texts[i] for i in test_index]
        fitted, temperature = _fit_and_calibrate(train_texts, truth[train_index], config)
        temperatures.append(temperature)
        margins = fitted.decision(test_texts)
        probabilities = softmax(margins, temperature)
        unsure = probabilities.max(axis=1) < config.refine_below
        if vectors is not None:
            full, full_temperature = _fit_and_calibrate(
                train_texts, truth[train_index], config, vectors[train_index]
            )
            better = softmax(full.decision(test_texts, vectors[test_index]), full_temperature)
            probabilities = np.where(unsure[:, None], better, probabilities)
        else:
            unsure = np.zeros(len(test_index), dtype=np.bool_)
        scores.append(margins)
        reported.append(probabilities)
        refined.append(unsure)
        picked.append(test_index)
        fold_ids.append(np.full(len(test_index), fold, dtype=np.intp))
    order = np.concatenate(picked)
    return HeldOut(
        labels=tuple(labels),
        texts=tuple(texts[i] for i in order),
        scores=np.concatenate(scores),
        probabilities=np.concatenate(reported),
        refined=np.concatenate(refined),
        truth=truth[order],
        temperatures=tuple(temperatures),
        fold_of=np.concatenate(fold_ids),
    )
