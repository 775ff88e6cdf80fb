"""What goes into a self-service flow (an utterance) and what comes out (a turn).

Shapes of `Utterance.slots`, as the language understanding should produce them; keys and
values that do not fit are ignored, as if not given:

    "card":         {"last4": "1234"} and/or {"kind": "debit" | "credit"}
    "account":      {"name": "savings"}           (an account's name, any case)
    "transfer_ref": "TR-1001"
    "amount":       {"value": Decimal("2500"), "currency": "EUR"}
                    (value: Decimal, int or a numeric string; currency: ISO code or None,
                    None meaning "in the card's currency")

The flows also read what they need from `Utterance.text` (see `handoff.selfservice.slots`),
so a bare "1234" answering "which card?" works without the language understanding.

`FlowState.slots` holds what was resolved, JSON-safe (it is stored in the bot message):

    "card":         {"id", "last4", "kind", "network", "status", "currency",
                     "daily_limit" (decimal string), "label"}
    "account":      {"id", "name", "currency", "label"}
    "transfer_ref": "TR-1001"
    "amount":       {"value": "2500.00", "currency": "EUR"}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeAlias

__all__ = [
    "AWAITING",
    "CONFIRM",
    "SLOT_NAMES",
    "CompletedTask",
    "EscalationReason",
    "EscalationRequest",
    "FlowState",
    "FlowTurn",
    "SlotName",
    "Utterance",
]

SlotName: TypeAlias = Literal["card", "account", "transfer_ref", "amount"]
SLOT_NAMES: frozenset[str] = frozenset({"card", "account", "transfer_ref", "amount"})
# `FlowState.awaiting` while the flow waits for a yes or no before acting.
CONFIRM: Final = "confirm"
AWAITING: frozenset[str] = SLOT_NAMES | {CONFIRM}

# bank_error: the core system failed or refused in a way the customer cannot fix;
# not_allowed: the card's state forbids the task (e.g. unfreezing a card reported lost);
# compromised: the customer says someone else used their card;
# not_understood: no usable answer to the same question `max_attempts` times;
# nothing_to_act_on: the customer has no card / account / transfer the task could use.
EscalationReason: TypeAlias = Literal[
    "bank_error", "not_allowed", "compromised", "not_understood", "nothing_to_act_on"
]


@dataclass(frozen=True, slots=True)
class Utterance:
    """One customer message, as understood. `intent` and `confidence` are the classifier's."""

    text: str
    intent: str | None = None
    confidence: float = 0.0
    slots: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FlowState:
    """Where a flow stands between two customer messages.

    `awaiting` is the slot asked for (or "confirm"); `attempts` how many unusable answers
    the customer gave to that same question so far.
    """

    flow: str
    slots: Mapping[str, Any]
    awaiting: str
    attempts: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "slots": dict(self.slots),
            "awaiting": self.awaiting,
            "attempts": self.attempts,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FlowState:
        """Parse `to_json`'s output; ValueError if it is not one."""
        flow, slots, awaiting = raw.get("flow"), raw.get("slots"), raw.get("awaiting")
        attempts = raw.get("attempts", 0)
        if not isinstance(flow, str) or not flow:
            raise ValueError("flow state: 'flow' must be a non-empty string")
        if not isinstance(slots, Mapping) or not all(isinstance(k, str) for k in slots):
            raise ValueError("flow state: 'slots' must be an object")
        if unknown := set(slots) - SLOT_NAMES:
            raise ValueError(f"flow state: unknown slots {sorted(unknown)}")
        if awaiting not in AWAITING:
            raise ValueError(f"flow state: cannot await {awaiting!r}")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise ValueError("flow state: 'attempts' must be a non-negative integer")
        return cls(flow, dict(slots), awaiting, attempts)


@dataclass(frozen=True, slots=True)
class CompletedTask:
    """A bank operation the flow ended with, for the log and the agent: JSON-safe."""

    flow: str
    action: str
    slots: Mapping[str, Any]
    result: Mapping[str, Any]
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "action": self.action,
            "slots": dict(self.slots),
            "result": dict(self.result),
            "ok": self.ok,
        }


@dataclass(frozen=True, slots=True)
class EscalationRequest:
    """Hand the conversation to a person, with everything the flow collected."""

    reason: EscalationReason
    intent: str | None
    summary: str
    queue: str
    priority: int
    slots: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "intent": self.intent,
            "summary": self.summary,
            "queue": self.queue,
            "priority": self.priority,
            "slots": dict(self.slots),
        }


@dataclass(frozen=True, slots=True)
class FlowTurn:
    """The flow's answer to one customer message.

    `state` is None when the flow is over. `topic_changed` means the message was about
    something else: the flow is dropped, nothing is said (`say` is empty) and the caller
    handles the message as if no flow were running.
    """

    say: str
    suggestions: tuple[str, ...]
    state: FlowState | None
    done: CompletedTask | None = None
    escalate: EscalationRequest | None = None
    topic_changed: bool = False
