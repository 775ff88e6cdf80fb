"""The BANKING77 intent classifier: calibrated confidence, alternatives, and its build.

Two models, both built on first use (or at set-up) and cached on disk, so later
processes load them in about a second instead of training again: the n-gram model,
which answers most messages in about a millisecond, and, when the sentence encoder is
installed, a model that also reads the encoder's vector, consulted only for the
messages the first one is unsure of (see `TrainingConfig.refine_below`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from importlib.resources.abc import Traversable

import numpy as np

from handoff.understanding.cache import ModelCache
from handoff.understanding.config import DEFAULT_CONFIG, MODEL_VERSION, TrainingConfig
from handoff.understanding.datasets import fingerprint, load_banking77, load_intents
from handoff.understanding.encoder import SentenceEncoder, find_encoder, load_encoder
from handoff.understanding.encoder.source import EncoderSource, encoder_key
from handoff.understanding.model import IntentModel

__all__ = [
    "CLARIFY_BELOW",
    "IntentClassifier",
    "IntentPrediction",
    "Refiner",
    "build_intent_model",
    "build_refiner",
    "intent_model_key",
]

# Below this calibrated confidence a caller should ask a clarifying question rather than
# act. Measured on held-out BANKING77 folds (see the package README): about 95% of queries
# clear it and 93-94% of those are right; the rest are right only about 40% of the time.
CLARIFY_BELOW = 0.5


@dataclass(frozen=True, slots=True)
class IntentPrediction:
    intent: str
    confidence: float
    # The runners-up, best first, each with its own calibrated probability.
    alternatives: tuple[tuple[str, float], ...]
    # True when the sentence-vector model decided (the n-gram model was unsure).
    refined: bool = False

    @property
    def needs_clarification(self) -> bool:
        return self.confidence < CLARIFY_BELOW


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def intent_model_key(
    data: Traversable | None = None,
    config: TrainingConfig = DEFAULT_CONFIG,
    encoder: EncoderSource | None = None,
) -> str:
    """The cache key of the model that `data` (default: the bundled BANKING77) would give;
    with `encoder`, of the model that also reads that encoder's sentence vectors."""
    parts = {
        "data": fingerprint(data),
        "model": MODEL_VERSION,
        "config": json.dumps(config.key_parts(), sort_keys=True),
        "sklearn": _version("scikit-learn"),
        "numpy": _version("numpy"),
    }
    if encoder is not None:
        parts["encoder"] = encoder_key(encoder)
    return ModelCache.key(**parts)


def build_intent_model(
    cache: ModelCache | None = None,
    *,
    data: Traversable | None = None,
    config: TrainingConfig = DEFAULT_CONFIG,
    rebuild: bool = False,
) -> IntentModel:
    """The cached model for `data` (a folder with train.csv and categories.json; default
    the bundled BANKING77), trained and stored first if missing or if `rebuild`."""
    store = cache if cache is not None else ModelCache()
    key = intent_model_key(data, config)

    def build() -> IntentModel:
        # Imported here: scikit-learn is only needed when there is no cached model.
        from handoff.understanding.training import train

        rows, labels = load_banking77(data), load_intents(data)
        return train(rows, labels, config, metadata={"cache_key": key})

    if rebuild:
        model = build()
        store.store(key, model)
        return model
    return store.load_or_build(key, build)


@dataclass(frozen=True, slots=True)
class Refiner:
    """The sentence encoder and the model that reads its vectors, consulted below `below`."""

    encoder: SentenceEncoder
    model: IntentModel
    below: float


def build_refiner(
    cache: ModelCache | None = None,
    *,
    data: Traversable | None = None,
    config: TrainingConfig = DEFAULT_CONFIG,
    rebuild: bool = False,
) -> tuple[Refiner | None, str]:
    """The refiner for `data`, trained and cached first if missing; or None and why not
    (the encoder's weights or onnxruntime are not installed)."""
    store = cache if cache is not None else ModelCache()
    source, reason = find_encoder()
    if source is None:
        return None, reason
    encoder = load_encoder(source, store, max_tokens=config.encoder_tokens)
    key = intent_model_key(data, config, source)

    def build() -> IntentModel:
        from handoff.understanding.training import train

        rows, labels = load_banking77(data), load_intents(data)
        # Encoding ten thousand rows is the slow part of a build: use the cores given.
        vectors = encoder.encode_many([row.text for row in rows], workers=config.jobs)
        return train(rows, labels, config, vectors=vectors, metadata={"cache_key": key})

    if rebuild:
        model = build()
        store.store(key, model)
    else:
        model = store.load_or_build(key, build)
    return Refiner(encoder, model, config.refine_below), ""


class IntentClassifier:
    """Classifies one utterance into the model's intents, asking the refiner (if any)
    when the n-gram model is unsure."""

    def __init__(
        self, model: IntentModel, *, refiner: Refiner | None = None, alternatives: int = 3
    ) -> None:
        if refiner is not None and refiner.model.labels != model.labels:
            raise ValueError("the refiner's model has other intents")
        self.model = model
        self.refiner = refiner
        self._alternatives = alternatives

    @property
    def intents(self) -> tuple[str, ...]:
        return self.model.labels

    def classify(self, text: str) -> IntentPrediction:
        probabilities = self.model.probabilities(text)
        refined = False
        if self.refiner is not None and float(probabilities.max()) < self.refiner.below:
            vector = self.refiner.encoder.encode(text)
            probabilities = self.refiner.model.probabilities(text, vector)
            refined = True
        k = min(self._alternatives + 1, len(probabilities))
        # argpartition then a sort of k items: cheaper than sorting all 77 each call.
        top = np.argpartition(-probabilities, k - 1)[:k]
        ranked = sorted(top.tolist(), key=lambda i: (-float(probabilities[i]), i))
        labels = self.model.labels
        best = ranked[0]
        return IntentPrediction(
            intent=labels[best],
            confidence=float(probabilities[best]),
            alternatives=tuple((labels[i], float(probabilities[i])) for i in ranked[1:]),
            refined=refined,
        )
