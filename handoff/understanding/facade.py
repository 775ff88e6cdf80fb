"""One call for everything the understanding core knows about an utterance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from handoff.understanding.cache import ModelCache
from handoff.understanding.intents import (
    CLARIFY_BELOW,
    IntentClassifier,
    build_intent_model,
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

    @property
    def needs_clarification(self) -> bool:
        """True when the intent is too uncertain to act on: ask the customer instead."""
        return self.confidence < CLARIFY_BELOW


class Understanding:
    """Intent classification plus slot extraction; safe to share between coroutines.

    Construction loads (or, the first time on a machine, trains and caches) the intent
    model, which is CPU work: in a server, build it once at start-up or in an executor.
    `understand` is pure, synchronous and fast (about a millisecond).
    """

    def __init__(
        self,
        model: IntentModel,
        *,
        slots: SlotExtractor | None = None,
        alternatives: int = 3,
    ) -> None:
        self._intents = IntentClassifier(model, alternatives=alternatives)
        self._slots = slots if slots is not None else SlotExtractor.bundled()

    @classmethod
    def load(cls, cache_dir: Path | None = None, *, alternatives: int = 3) -> Understanding:
        """From the on-disk cache (default `default_cache_dir()`), building it if missing."""
        model = build_intent_model(ModelCache(cache_dir))
        return cls(model, alternatives=alternatives)

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
        )
