"""One call for everything the understanding core knows about an utterance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from handoff.understanding.cache import ModelCache
from handoff.understanding.intents import (
    CLARIFY_BELOW,
    IntentClassifier,
    Refiner,
    build_intent_model,
    build_refiner,
)
from handoff.understanding.model import IntentModel
from handoff.understanding.slots import Slot, SlotExtractor

__all__ = ["Understanding", "Understood"]


@dataclass(frozen=True, slots=True)
class Understood:
    """The best intent with its calibrated confidence, the runners-up, and the slots."""

    intent: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...]
    slots: tuple[Slot, ...]
    # True when the sentence encoder was consulted (the n-gram model was unsure).
    refined: bool = False

    @property
    def needs_clarification(self) -> bool:
        """True when the intent is too uncertain to act on: ask the customer instead."""
        return self.confidence < CLARIFY_BELOW


class Understanding:
    """Intent classification plus slot extraction; safe to share between coroutines.

    Construction loads (or, the first time on a machine, trains and caches) the intent
    model, which is CPU work: in a server, build it once at start-up or in an executor.
    `understand` is pure and synchronous: about a millisecond, or a few when the sentence
    encoder is consulted (about one message in five).
    """

    def __init__(
        self,
        model: IntentModel,
        *,
        refiner: Refiner | None = None,
        slots: SlotExtractor | None = None,
        alternatives: int = 3,
        refiner_off: str = "",
    ) -> None:
        self._intents = IntentClassifier(model, refiner=refiner, alternatives=alternatives)
        self._slots = slots if slots is not None else SlotExtractor.bundled()
        # Why there is no sentence encoder ("" when there is one or none was asked for).
        self.refiner_off = refiner_off

    @classmethod
    def load(
        cls, cache_dir: Path | None = None, *, alternatives: int = 3, encoder: bool = True
    ) -> Understanding:
        """From the on-disk cache (default `default_cache_dir()`), building what is missing.

        With `encoder` (the default) the sentence encoder refines unsure intents when its
        weights and onnxruntime are installed; `refiner_off` then says why it is not.
        """
        cache = ModelCache(cache_dir)
        model = build_intent_model(cache)
        refiner, reason = build_refiner(cache) if encoder else (None, "")
        return cls(model, refiner=refiner, alternatives=alternatives, refiner_off=reason)

    @property
    def refines(self) -> bool:
        """True when the sentence encoder is in use."""
        return self._intents.refiner is not None

    @property
    def intents(self) -> tuple[str, ...]:
        return self._intents.intents

    def understand(self, text: str, *, today: date | None = None) -> Understood:
        """What `text` asks for and the details it gives.

        `today` anchors relative dates ("yesterday"); pass a `datetime` to also resolve
        clock-relative phrases ("in 2 hours"). None means now, local time.
        """
        prediction = self._intents.classify(text)
        return Understood(
            intent=prediction.intent,
            confidence=prediction.confidence,
            alternatives=prediction.alternatives,
            slots=self._slots.extract(text, today=today),
            refined=prediction.refined,
        )
