"""Slot extraction: amounts, dates, times, periods, merchants, card and account references.

Rule-based (regular expressions and small gazetteers); values are normalised (amounts as
`Decimal` + ISO 4217, dates as `datetime.date` relative to a given today, times as
`datetime.time`). Measured on the NLU++ banking folds by `handoff.understanding.evaluation`.
"""

from handoff.understanding.slots.extractor import SLOT_NAMES, SlotExtractor, extract_slots
from handoff.understanding.slots.values import (
    AccountReference,
    CardReference,
    DatePeriod,
    JsonValue,
    Money,
    Slot,
    SlotValue,
    TimePeriod,
    value_to_json,
)

__all__ = [
    "SLOT_NAMES",
    "AccountReference",
    "CardReference",
    "DatePeriod",
    "JsonValue",
    "Money",
    "Slot",
    "SlotExtractor",
    "SlotValue",
    "TimePeriod",
    "extract_slots",
    "value_to_json",
]
