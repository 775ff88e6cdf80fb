"""Conversation events: the append-only log is the source of truth.

An event is immutable once appended. `seq` is assigned by the store and grows by exactly
one per conversation, so a client can detect gaps and duplicates from `seq` alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeAlias, get_args

__all__ = [
    "EVENT_TYPES",
    "Event",
    "EventType",
    "NewEvent",
]

EventType: TypeAlias = Literal[
    "conversation.started",
    "handler.changed",
    "message.sent",
    "message.read",
    "channel.opened",
    "channel.closed",
    "conversation.closed",
    "task.completed",
    "ticket.filed",
    # A call in the conversation (the "call" channel): see docs/protocol.md, "Calls".
    "call.started",
    "call.answered",
    "call.held",
    "call.resumed",
    "call.upgraded",
    "call.transferred",
    "call.ended",
    "recording.started",
    "recording.saved",
    # A final transcript segment of a call, numbers masked (partials are never logged).
    "transcript.segment",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

JsonData: TypeAlias = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event decided but not yet stored: it has no `seq` until the store appends it."""

    type: EventType
    actor: str
    at: datetime
    data: JsonData = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """A stored event of one conversation."""

    conversation_id: str
    seq: int
    type: EventType
    at: datetime
    actor: str
    data: JsonData

    @classmethod
    def stored(cls, conversation_id: str, seq: int, new: NewEvent) -> Event:
        return cls(conversation_id, seq, new.type, new.at, new.actor, new.data)

    def to_json(self) -> dict[str, Any]:
        """The wire and storage form (see docs/protocol.md, "Durable events")."""
        return {
            "conversation_id": self.conversation_id,
            "seq": self.seq,
            "type": self.type,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "data": dict(self.data),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Event:
        kind = raw["type"]
        if kind not in EVENT_TYPES:
            raise ValueError(f"unknown event type {kind!r}")
        return cls(
            conversation_id=str(raw["conversation_id"]),
            seq=int(raw["seq"]),
            type=kind,
            at=datetime.fromisoformat(raw["at"]),
            actor=str(raw["actor"]),
            data=dict(raw["data"]),
        )
