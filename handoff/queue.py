"""The routing queue: waiting conversations, most urgent first, then first come first served."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

__all__ = ["MemoryRoutingQueue", "QueueEntry", "RoutingQueue"]


@dataclass(frozen=True, slots=True)
class QueueEntry:
    conversation_id: str
    customer_id: str
    queue: str
    priority: int
    enqueued_at: datetime
    context: Mapping[str, Any] = field(default_factory=dict)
    # Agents who declined or let an offer lapse: not offered this conversation again
    # until everyone else has had a chance.
    tried: frozenset[str] = frozenset()
    # When the last of them passed: how long the conversation has gone unoffered.
    tried_at: datetime | None = None

    @classmethod
    def waiting(
        cls,
        conversation_id: str,
        customer_id: str,
        context: Mapping[str, Any],
        since: datetime,
        tried: frozenset[str] = frozenset(),
    ) -> QueueEntry:
        """An entry for a conversation handed to the queue with `context` (the handoff
        context names the queue and the priority)."""
        return cls(
            conversation_id=conversation_id,
            customer_id=customer_id,
            queue=str(context.get("queue") or "general"),
            priority=int(context.get("priority") or 0),
            enqueued_at=since,
            context=context,
            tried=tried,
        )


class RoutingQueue(Protocol):
    def put(self, entry: QueueEntry) -> None: ...

    def remove(self, conversation_id: str) -> QueueEntry | None: ...

    def get(self, conversation_id: str) -> QueueEntry | None: ...

    def mark_tried(self, conversation_id: str, agent_id: str, at: datetime) -> None: ...

    def reset_tried(self, conversation_id: str) -> None: ...

    def ordered(self) -> list[QueueEntry]: ...

    def __len__(self) -> int: ...


class MemoryRoutingQueue:
    def __init__(self) -> None:
        self._entries: dict[str, tuple[int, QueueEntry]] = {}
        self._arrivals = itertools.count()

    def put(self, entry: QueueEntry) -> None:
        # Re-queueing keeps the original arrival: a customer never loses their place.
        arrival = (
            self._entries[entry.conversation_id][0]
            if entry.conversation_id in self._entries
            else next(self._arrivals)
        )
        self._entries[entry.conversation_id] = (arrival, entry)

    def remove(self, conversation_id: str) -> QueueEntry | None:
        found = self._entries.pop(conversation_id, None)
        return found[1] if found else None

    def get(self, conversation_id: str) -> QueueEntry | None:
        found = self._entries.get(conversation_id)
        return found[1] if found else None

    def mark_tried(self, conversation_id: str, agent_id: str, at: datetime) -> None:
        if found := self._entries.get(conversation_id):
            arrival, entry = found
            self._entries[conversation_id] = (
                arrival,
                replace(entry, tried=entry.tried | {agent_id}, tried_at=at),
            )

    def reset_tried(self, conversation_id: str) -> None:
        if found := self._entries.get(conversation_id):
            arrival, entry = found
            self._entries[conversation_id] = (arrival, replace(entry, tried=frozenset()))

    def ordered(self) -> list[QueueEntry]:
        ranked = sorted(self._entries.values(), key=lambda it: (-it[1].priority, it[0]))
        return [entry for _, entry in ranked]

    def __iter__(self) -> Iterator[QueueEntry]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self._entries)
