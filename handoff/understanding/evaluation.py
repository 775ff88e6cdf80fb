"""Scoring slot extraction against NLU++ annotations, by span text and by normalised value.

NLU++ resolved its relative expressions on Tuesday 2022-03-15 at 09:00, so that is the
`today` the extractor is given. Two matches are counted, each micro-averaged over slot
occurrences: `span` (slot name and exact text) and `value` (slot name and normalised
value). NLU++ slots the extractor does not produce (person names, bare numbers, shopping
categories) are left out of the "targeted" totals and counted as misses in "all".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from handoff.understanding.datasets import NluExample
from handoff.understanding.slots import (
    SLOT_NAMES,
    DatePeriod,
    Money,
    Slot,
    SlotExtractor,
    SlotValue,
    TimePeriod,
)

__all__ = ["NLUPP_NOW", "Score", "SlotScores", "gold_value", "score_slots"]

NLUPP_NOW = datetime(2022, 3, 15, 9, 0)


@dataclass(frozen=True, slots=True)
class Score:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        gold = self.true_positives + self.false_negatives
        return self.true_positives / gold if gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "support": self.true_positives + self.false_negatives,
            "predicted": self.true_positives + self.false_positives,
        }


@dataclass(frozen=True, slots=True)
class SlotScores:
    """Per-slot-name scores and the two totals, for one matching mode."""

    per_slot: Mapping[str, Score]
    targeted: Score
    all_slots: Score


def _date(raw: Mapping[str, Any]) -> date:
    return date(int(raw["year"]), int(raw["month"]), int(raw["day"]))


def _time(raw: Mapping[str, Any]) -> time:
    return time(int(raw["hour"]) % 24, int(raw["minute"]))


def gold_value(name: str, annotation: Mapping[str, Any]) -> SlotValue | None:
    """An NLU++ annotation's value in the extractor's types (None: not representable)."""
    raw = annotation.get("value", annotation.get("values"))
    if isinstance(raw, str) and raw == "ambiguous":
        return None
    if name == "amount_of_money" and isinstance(raw, Mapping):
        currency = raw.get("currency")
        amount = Decimal(str(raw["amount"])).normalize()
        return Money(amount, None if currency == "ambiguous" else currency)
    if name in ("date", "date_from", "date_to") and isinstance(raw, Mapping):
        return _date(raw)
    if name in ("time", "time_from", "time_to") and isinstance(raw, Mapping):
        return _time(raw)
    if name == "date_period" and isinstance(raw, Mapping):
        kind = raw.get("type")
        if kind == "absolute":
            return DatePeriod("absolute", _date(raw["from"]), _date(raw["to"]))
        if kind == "relative":
            return DatePeriod("relative", days=int(raw["days"]))
        if kind in ("periodic", "ambiguous"):
            return DatePeriod(kind)
    if name == "time_period" and isinstance(raw, Mapping):
        kind = raw.get("type")
        if kind == "absolute":
            return TimePeriod("absolute", _time(raw["from"]), _time(raw["to"]))
        if kind == "relative":
            # NLU++ stores a relative time period's length in minutes under "days".
            return TimePeriod("relative", minutes=int(raw["days"]))
        if kind == "ambiguous":
            return TimePeriod("ambiguous")
    if isinstance(raw, str):
        return raw
    return None


def _comparable(value: SlotValue | None) -> object:
    """A key under which a predicted and a gold value compare equal when they mean the same."""
    match value:
        case Money(amount=amount, currency=currency):
            return ("money", amount.normalize(), currency)
        case TimePeriod(kind=kind, start=start, end=end, minutes=minutes):
            # Gold absolute periods carry no length; compare only what both have.
            return ("time_period", kind, start, end, minutes if kind == "relative" else None)
        case str():
            return value.casefold()
    return value


def _count(gold: Counter[Any], found: Counter[Any]) -> Score:
    hits = sum((gold & found).values())
    return Score(hits, sum(found.values()) - hits, sum(gold.values()) - hits)


def score_slots(
    examples: Iterable[NluExample],
    *,
    mode: str = "span",
    now: datetime = NLUPP_NOW,
    extractor: SlotExtractor | None = None,
) -> SlotScores:
    """Micro-averaged slot scores of the extractor on `examples` (`mode`: "span" or "value")."""
    if mode not in ("span", "value"):
        raise ValueError("mode is 'span' or 'value'")
    extractor = extractor if extractor is not None else SlotExtractor.bundled()
    gold: Counter[tuple[str, int, object]] = Counter()
    found: Counter[tuple[str, int, object]] = Counter()
    for index, example in enumerate(examples):
        for name, annotation in example.slots.items():
            key = (
                annotation.get("text", "")
                if mode == "span"
                else _comparable(gold_value(name, annotation))
            )
            gold[(name, index, key)] += 1
        predicted: tuple[Slot, ...] = extractor.extract(example.text, today=now)
        for slot in predicted:
            key = slot.text if mode == "span" else _comparable(slot.value)
            found[(slot.name, index, key)] += 1
    names = sorted({name for name, _, _ in gold} | {name for name, _, _ in found})
    per_slot = {
        name: _count(
            Counter({k: v for k, v in gold.items() if k[0] == name}),
            Counter({k: v for k, v in found.items() if k[0] == name}),
        )
        for name in names
    }
    targeted = set(SLOT_NAMES)

    def total(include: set[str] | None) -> Score:
        g = Counter({k: v for k, v in gold.items() if include is None or k[0] in include})
        f = Counter({k: v for k, v in found.items() if include is None or k[0] in include})
        return _count(g, f)

    # Card and account references have no NLU++ annotation: predicting them is neither
    # right nor wrong here, so they are left out of both totals.
    scored = targeted - {"card", "account"}
    everything = {name for name, _, _ in gold} | scored
    return SlotScores(per_slot, total(scored), total(everything))
