"""The handler port: whatever serves a customer automatically (bot, digital human, LLM).

A handler reads the conversation so far and returns what to do next; it never writes
to the log itself. The orchestrator turns its replies into commands, so every bot word
and every escalation is validated by `decide` and logged like anyone else's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, TypeAlias

from sessions.events import Event

__all__ = ["Escalate", "EscalationReason", "Handler", "Reply", "Say", "SayKind", "Task"]

SayKind: TypeAlias = Literal[
    "greeting", "answer", "clarify", "fallback", "escalating", "task", "task_done"
]
EscalationReason: TypeAlias = Literal[
    "customer_request", "sensitive_intent", "not_understood", "task_failed"
]

_NOTHING: Mapping[str, Any] = MappingProxyType({})


def _nothing() -> Mapping[str, Any]:
    return _NOTHING


@dataclass(frozen=True, slots=True)
class Say:
    """Send the customer a message."""

    text: str
    kind: SayKind
    intent: str | None = None
    suggestions: tuple[str, ...] = ()
    # More for the log, JSON-safe: what was understood of the message answered, the state
    # of a task in progress (read back from the log on the next message).
    data: Mapping[str, Any] = field(default_factory=_nothing)


@dataclass(frozen=True, slots=True)
class Task:
    """Record a task carried out for the customer through the bank's systems."""

    flow: str
    action: str
    ok: bool
    slots: Mapping[str, Any] = field(default_factory=_nothing)
    result: Mapping[str, Any] = field(default_factory=_nothing)


@dataclass(frozen=True, slots=True)
class Escalate:
    """Hand the conversation to a person (the routing queue), with what was learnt."""

    reason: EscalationReason
    intent: str | None
    summary: str
    queue: str = "general"
    priority: int = 0
    transcript: tuple[tuple[str, str], ...] = field(default=())
    confidence: float | None = None
    # What the customer already told (which card, which amount): the agent need not ask.
    slots: Mapping[str, Any] = field(default_factory=_nothing)


Reply: TypeAlias = Say | Escalate | Task


class Handler(Protocol):
    """An automatic handler. `history` is the conversation's log, oldest first."""

    async def greet(self, history: Sequence[Event], *, returning: bool) -> Sequence[Reply]:
        """What to say when the handler takes the conversation (at start or on hand-back)."""
        ...

    async def reply(self, history: Sequence[Event], text: str) -> Sequence[Reply]:
        """What to do about the customer's message `text` (already the last event of `history`)."""
        ...
