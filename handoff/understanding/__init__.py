"""Understanding customer text: BANKING77 intents with calibrated confidence, and slots.

Pure domain code (no web framework). `Understanding.load()` gives the facade; its
`understand(text, today=...)` returns an `Understood`. The intent model is trained from
the bundled BANKING77 data on first use and cached on disk (see `cache.py`); slots are
rule-based. Data: PolyAI's BANKING77 and NLU++ under CC BY 4.0 (see data/README.md).
"""

from handoff.understanding.cache import ModelCache, default_cache_dir
from handoff.understanding.facade import Understanding, Understood
from handoff.understanding.intents import (
    CLARIFY_BELOW,
    IntentClassifier,
    IntentPrediction,
    build_intent_model,
    intent_model_key,
)
from handoff.understanding.model import IntentModel
from handoff.understanding.slots import (
    AccountReference,
    CardReference,
    DatePeriod,
    Money,
    Slot,
    SlotExtractor,
    SlotValue,
    TimePeriod,
    extract_slots,
    value_to_json,
)

__all__ = [
    "CLARIFY_BELOW",
    "AccountReference",
    "CardReference",
    "DatePeriod",
    "IntentClassifier",
    "IntentModel",
    "IntentPrediction",
    "ModelCache",
    "Money",
    "Slot",
    "SlotExtractor",
    "SlotValue",
    "TimePeriod",
    "Understanding",
    "Understood",
    "build_intent_model",
    "default_cache_dir",
    "extract_slots",
    "intent_model_key",
    "value_to_json",
]
