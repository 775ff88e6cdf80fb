"""How the intent model is trained, and the version that keys its cache.

Kept apart from training.py so that computing a cache key never imports scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["DEFAULT_CONFIG", "MODEL_VERSION", "TrainingConfig"]

# Part of the cache key: bump it whenever a change in training.py, text.py or model.py
# would make a previously built model wrong (features, weighting, file layout).
MODEL_VERSION = "intent-svm-tfidf-1"


@dataclass(frozen=True, slots=True)
class TrainingConfig:
    """The method chosen by cross-validation (see the package README)."""

    word_sizes: tuple[int, int] = (1, 2)
    char_sizes: tuple[int, int] = (1, 4)
    c: float = 1.0
    # The stratified share held out to fit the temperature: one scalar needs few rows
    # (2,000 here), and one held-out fit runs beside the final fit, so a build on two
    # cores costs about one fit. (3-fold out-of-fold margins gave the same temperature,
    # 0.18, at twice the build time.)
    calibration_holdout: float = 0.2
    seed: int = 0
    # Parallel fits while training; not part of what is learned, so not in the key.
    jobs: int = 2

    def key_parts(self) -> dict[str, object]:
        parts = asdict(self)
        parts.pop("jobs")
        return parts


DEFAULT_CONFIG = TrainingConfig()
