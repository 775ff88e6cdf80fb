"""The handler port: whatever serves a customer automatically (bot, digital human, LLM).

A handler reads the conversation so far and returns what to do next; it never writes
to the log itself. The orchestrator turns its replies into commands, so every bot word
and every escalation is validated by `decide` and logged like anyone else's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

from sessions.events import Event

__all__ = ["Escalate", "Handler", "Reply", "Say", "SayKind"]

SayKind: TypeAlias = Literal["greeting", "answer", "clarify", "fallback", "escalating"]


@dataclass(frozen=True, slots=True)
class Say:
    """Send the customer a message."""

    text: str
    kind: SayKind
    intent: str | None = None
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Escalate:
    """Hand the conversation to a person (the routing queue), with what was learnt."""

    reason: Literal["customer_request", "sensitive_intent", "not_understood"]
    intent: str | None
    summary: str
    queue: str = "general"
    priority: int = 0
    transcript: tuple[tuple[str, str], ...] = field(default=())


Reply: TypeAlias = Say | Escalate


class Handler(Protocol):
    """An automatic handler. `history` is the conversation's log, oldest first."""

    async def greet(self, history: Sequence[Event], *, returning: bool) -> Sequence[Reply]:
        """What to say when the handler takes the conversation (at start or on hand-back)."""
        ...

    async def reply(self, history: Sequence[Event], text: str) -> Sequence[Reply]:
        """What to do about the customer's message `text` (already the last event of `history`)."""
        ...
