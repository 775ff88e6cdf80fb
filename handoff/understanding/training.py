"""Training the intent model on CPU with scikit-learn, and cross-validating it.

Only this module (and only at build time) imports scikit-learn; the result is an
`IntentModel` of plain arrays. The method was chosen by stratified 5-fold
cross-validation on BANKING77 (see loadtests/bench_understanding.py and the package
README): word 1-2-grams plus in-word character 1-4-grams, sublinear TF-IDF, a one-vs-rest
linear SVM, and a temperature fitted on held-out margins for calibrated confidence.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
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
from handoff.understanding.model import FeatureBlock, IntentModel
from handoff.understanding.text import char_ngrams, normalise, word_ngrams

__all__ = ["HeldOut", "cross_validate", "train"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class HeldOut:
    """Scores of held-out rows: `scores[i]` are the margins of `texts[i]`, `truth[i]` its label."""

    labels: tuple[str, ...]
    texts: tuple[str, ...]
    scores: FloatArray
    truth: IntArray
    temperatures: tuple[float, ...] = field(default=())
    fold_of: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))


def _analyser(analyse: Callable[..., list[str]], sizes: tuple[int, int], text: str) -> list[str]:
    return analyse(normalise(text), sizes=sizes)


class _Fitted:
    """Fitted vectorisers and SVM, kept only to score many rows at once while training."""

    def __init__(self, texts: Sequence[str], truth: IntArray, config: TrainingConfig) -> None:
        self.config = config
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
        matrix = self.union.fit_transform(texts)
        self.svm = LinearSVC(C=config.c, random_state=config.seed).fit(matrix, truth)

    def decision(self, texts: Sequence[str]) -> FloatArray:
        matrix = self.union.transform(texts)
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
        return IntentModel(
            labels=labels,
            blocks=blocks,
            weights=weights,
            intercept=np.asarray(self.svm.intercept_, dtype=np.float32),
            temperature=temperature,
            metadata=metadata,
        )


def _encode(rows: Sequence[LabelledText], labels: Sequence[str]) -> IntArray:
    index = {label: i for i, label in enumerate(labels)}
    return np.asarray([index[row.intent] for row in rows], dtype=np.intp)


def _fold_scores(
    texts: Sequence[str],
    truth: IntArray,
    train_index: IntArray,
    test_index: IntArray,
    config: TrainingConfig,
) -> FloatArray:
    fitted = _Fitted([texts[i] for i in train_index], truth[train_index], config)
    return fitted.decision([texts[i] for i in test_index])


def _splits(truth: IntArray, folds: int, seed: int) -> list[tuple[IntArray, IntArray]]:
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(truth)), truth))


def _fit_and_calibrate(
    texts: Sequence[str], truth: IntArray, config: TrainingConfig
) -> tuple[_Fitted, float]:
    """The model on all rows, and the temperature from a sibling fitted without a held-out
    share; both fits run at once, so on two cores the build takes about one fit's time."""
    splitter = StratifiedShuffleSplit(
        n_splits=1, test_size=config.calibration_holdout, random_state=config.seed
    )
    train_index, test_index = next(splitter.split(np.zeros(len(truth)), truth))
    tasks = [
        delayed(_fold_scores)(texts, truth, train_index, test_index, config),
        delayed(_Fitted)(texts, truth, config),
    ]
    held_out, fitted = Parallel(n_jobs=config.jobs)(tasks)
    return fitted, fit_temperature(held_out, truth[test_index])


def train(
    rows: Sequence[LabelledText],
    labels: Sequence[str],
    config: TrainingConfig = DEFAULT_CONFIG,
    *,
    metadata: dict[str, object] | None = None,
) -> IntentModel:
    """Fit the intent model on `rows` and calibrate its confidence on held-out margins."""
    began = time.perf_counter()
    texts = [row.text for row in rows]
    truth = _encode(rows, labels)
    if len(labels) < 3 or len(set(truth.tolist())) != len(labels):
        raise ValueError("every intent needs training rows, and there must be 3 or more")
    fitted, temperature = _fit_and_calibrate(texts, truth, config)
    info: dict[str, object] = {
        "model_version": MODEL_VERSION,
        "rows": len(rows),
        "config": config.key_parts(),
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
) -> HeldOut:
    """Stratified k-fold scores of every row (or only of fold `only`), never of training rows.

    Each outer fold's model calibrates its temperature on its own training part (nested),
    so the held-out confidence is what a deployed model would report.
    """
    texts = [row.text for row in rows]
    truth = _encode(rows, labels)
    splits = _splits(truth, folds, config.seed)
    if only is not None:
        splits = [splits[only]]
    scores: list[FloatArray] = []
    picked: list[IntArray] = []
    fold_ids: list[IntArray] = []
    temperatures: list[float] = []
    for fold, (train_index, test_index) in enumerate(splits):
        fitted, temperature = _fit_and_calibrate(
            [texts[i] for i in train_index], truth[train_index], config
        )
        temperatures.append(temperature)
        scores.append(fitted.decision([texts[i] for i in test_index]))
        picked.append(test_index)
        fold_ids.append(np.full(len(test_index), fold, dtype=np.intp))
    order = np.concatenate(picked)
    return HeldOut(
        labels=tuple(labels),
        texts=tuple(texts[i] for i in order),
        scores=np.concatenate(scores),
        truth=truth[order],
        temperatures=tuple(temperatures),
        fold_of=np.concatenate(fold_ids),
    )
