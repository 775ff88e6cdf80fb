"""What the ticket filler needs from language understanding, and nothing more.

Protocols rather than the NLU's own types, so the understanding module can change its
classes freely: anything with these attributes will do. The dataclasses are a ready-made
implementation, and `understood_from_json` reads the "understood" form attached to a
customer message ({"intent", "confidence", "slots": [{"name", "text", "value"}]}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "SlotLike",
    "SlotValue",
    "UnderstoodLike",
    "UnderstoodMessage",
    "understood_from_json",
]


class SlotLike(Protocol):
    """One thing found in a message: `text` as written, `value` normalised."""

    @property
    def name(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def value(self) -> Mapping[str, Any] | str: ...


class UnderstoodLike(Protocol):
    """What was understood of the customer message with sequence number `seq`."""

    @property
    def seq(self) -> int: ...

    @property
    def intent(self) -> str | None: ...

    @property
    def confidence(self) -> float: ...

    @property
    def slots(self) -> Sequence[SlotLike]: ...


@dataclass(frozen=True, slots=True)
class SlotValue:
    name: str
    text: str
    value: Mapping[str, Any] | str


@dataclass(frozen=True, slots=True)
class UnderstoodMessage:
    seq: int
    intent: str | None
    confidence: float
    slots: tuple[SlotValue, ...] = ()


def understood_from_json(seq: int, raw: Mapping[str, Any]) -> UnderstoodMessage:
    """Read an "understood" object; a malformed slot is skipped, not fatal.

    The analysis is a hint for a ticket an agent checks anyway: losing one odd slot is
    better than losing the whole message's intent.
    """
    intent = raw.get("intent")
    confidence = raw.get("confidence")
    slots = []
    for item in raw.get("slots") or ():
        if not isinstance(item, Mapping):
            continue
        name, text, value = item.get("name"), item.get("text", ""), item.get("value")
        if isinstance(name, str) and isinstance(text, str) and isinstance(value, Mapping | str):
            slots.append(SlotValue(name, text, value))
    return UnderstoodMessage(
        seq=seq,
        intent=intent if isinstance(intent, str) and intent else None,
        confidence=(
            float(confidence)
            if isinstance(confidence, int | float) and not isinstance(confidence, bool)
            else 0.0
        ),
        slots=tuple(slots),
    )
