"""The `SessionStore` port: what any conversation store must do.

Shaped for the in-memory default today and Redis/PostgreSQL next: appends carry the
expected last `seq` (optimistic concurrency, a unique (conversation_id, seq) key in
SQL), idempotency keys are recorded in the same write as the events they produced (a
unique constraint in SQL), and `subscribe` is the feed a node fans out from (a Redis
stream across nodes). Every implementation must pass `tests/contract/`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from sessions.events import Event, NewEvent
from sessions.state import ConversationState, Status

__all__ = ["AppendResult", "ConversationQuery", "EventFeed", "SessionStore"]


@dataclass(frozen=True, slots=True)
class AppendResult:
    conversation_id: str
    events: tuple[Event, ...]
    # True when the idempotency key was seen before and nothing new was appended.
    replayed: bool = False

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.events]


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    customer_id: str | None = None
    status: Status | None = None
    handler: str | None = None
    limit: int = 100


class EventFeed(Protocol):
    """Every event appended after the feed was opened, in append order per conversation."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def aclose(self) -> None: ...


class SessionStore(Protocol):
    async def start(self) -> None:
        """Connect and check the backing service; called once, before any other method."""
        ...

    async def append(
        self,
        conversation_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        """Append `events` after `expected_seq`, atomically, with their idempotency key.

        Raises `ConcurrencyError` if the log is not at `expected_seq`. If the key was
        recorded before, appends nothing and returns the original result, `replayed=True`.
        """
        ...

    async def find(self, idempotency_key: str) -> AppendResult | None:
        """The result recorded with this key, `replayed=True`, or None."""
        ...

    async def load(self, conversation_id: str) -> ConversationState | None:
        """The current state (a projection of the log), or None if there is no such log."""
        ...

    async def reload(self, conversation_id: str) -> ConversationState | None:
        """The state as the durable store has it now, past any cache (which it refreshes):
        for a decision a cached state may have got wrong."""
        ...

    async def read(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Events with `seq > after_seq`, in order, at most `limit` of them."""
        ...

    async def list_conversations(self, query: ConversationQuery) -> list[ConversationState]:
        """Matching conversations, most recently updated first."""
        ...

    def subscribe(self) -> EventFeed:
        """A feed of events appended from now on."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot serve requests (for readiness checks)."""
        ...

    async def close(self) -> None: ...
