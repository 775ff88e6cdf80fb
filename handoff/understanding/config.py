"""How the intent model is trained, and the version that keys its cache.

Kept apart from training.py so that computing a cache key never imports scikit-learn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["DEFAULT_CONFIG", "MODEL_VERSION", "TrainingConfig"]

# Part of the cache key: bump it whenever a change in training.py, text.py or model.py
# would make a previously built model wrong (features, weighting, file layout).
MODEL_VERSION = "intent-svm-tfidf-3"


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
    # The sentence vector's weight beside the unit-length n-gram blocks (1, 2 and 3 were
    # cross-validated: 2 was best), and the word pieces the encoder reads per message:
    # cross-validated accuracy 0.929 with 128, 0.928 with 32, 0.926 with 24, which
    # bounds the cost of a long message at about 5 ms on one core.
    vector_scale: float = 2.0
    encoder_tokens: int = 24
    # Below this n-gram confidence the vector model decides. At 0.9 about 22% of messages
    # take the encoder and accuracy is within 0.001 of always taking it (cross-validated;
    # 0.5 gave 0.918, 0.7 0.924, 0.9 0.929, always 0.929).
    refine_below: float = 0.9
    # Parallel fits while training; not part of what is learned, so not in the key.
    jobs: int = 2

    def key_parts(self) -> dict[str, object]:
        parts = asdict(self)
        # How training runs and when serving consults the vector model change nothing
        # that is learned.
        parts.pop("jobs")
        parts.pop("refine_below")
        return parts


DEFAULT_CONFIG = TrainingConfig()
