"""Turning linear scores into probabilities one can act on, and measuring how well that went.

A linear SVM's margins rank intents well but are not probabilities. One temperature,
fitted on held-out scores by minimising the negative log-likelihood, makes the softmax
of the margins calibrated (Guo et al., 2017) without changing which intent wins.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from handoff.understanding.model import softmax

__all__ = ["expected_calibration_error", "fit_temperature", "negative_log_likelihood"]

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.intp]


def negative_log_likelihood(scores: FloatArray, truth: IntArray, temperature: float) -> float:
    probabilities = softmax(scores, temperature)
    picked = probabilities[np.arange(len(truth)), truth]
    return float(-np.mean(np.log(np.clip(picked, 1e-12, 1.0))))


def fit_temperature(
    scores: FloatArray,
    truth: IntArray,
    *,
    low: float = 0.01,
    high: float = 10.0,
    iterations: int = 60,
) -> float:
    """The temperature in [low, high] that minimises held-out NLL (golden-section on log T).

    NLL is unimodal in the temperature, so a bracketing search converges without
    needing an optimiser library; 60 steps narrow the bracket far below 1e-6.
    """
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = math.log(low), math.log(high)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc = negative_log_likelihood(scores, truth, math.exp(c))
    fd = negative_log_likelihood(scores, truth, math.exp(d))
    for _ in range(iterations):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = negative_log_likelihood(scores, truth, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = negative_log_likelihood(scores, truth, math.exp(d))
    return math.exp((a + b) / 2.0)


def expected_calibration_error(
    confidences: Sequence[float] | FloatArray,
    correct: Sequence[bool] | npt.NDArray[np.bool_],
    *,
    bins: int = 15,
) -> float:
    """Top-label ECE: the bin-weighted gap between confidence and accuracy (equal-width bins)."""
    confidence = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    if confidence.size == 0:
        return 0.0
    # Bin i holds (i/bins, (i+1)/bins]; a confidence of exactly 0 joins the first bin.
    index = np.clip(np.ceil(confidence * bins).astype(np.intp) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        if count:
            gap = abs(float(confidence[members].mean()) - float(hits[members].mean()))
            total += count / confidence.size * gap
    return total
