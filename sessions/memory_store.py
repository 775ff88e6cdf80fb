"""The embedded in-memory store: zero set-up, one process, lost on exit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sessions.errors import ConcurrencyError
from sessions.events import Event, NewEvent
from sessions.feed import LocalFeed, LocalFeeds
from sessions.state import ConversationState, apply
from sessions.store import AppendResult, ConversationQuery

__all__ = ["MemoryStore"]


@dataclass
class _Log:
    state: ConversationState
    events: list[Event] = field(default_factory=list)


class MemoryStore:
    """Implements `SessionStore`. Appends are synchronous inside one event loop, so
    they are atomic without locks; feeds are unbounded queues drained by this process."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._keys: dict[str, AppendResult] = {}
        self._by_customer: dict[str, list[str]] = {}
        self._feeds = LocalFeeds()

    async def start(self) -> None:
        return None

    async def append(
        self,
        conversation_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        if idempotency_key is not None and (seen := self._keys.get(idempotency_key)):
            return AppendResult(seen.conversation_id, seen.events, replayed=True)
        log = self._logs.get(conversation_id)
        actual = log.state.last_seq if log else 0
        if actual != expected_seq:
            raise ConcurrencyError(conversation_id, expected_seq, actual)
        if log is None:
            log = _Log(ConversationState(id=conversation_id))
        state = log.state
        stored: list[Event] = []
        for new in events:
            event = Event.stored(conversation_id, state.last_seq + 1, new)
            state = apply(state, event)
            stored.append(event)
        # Commit only after every event applied cleanly: all or nothing.
        log.state = state
        log.events.extend(stored)
        if conversation_id not in self._logs:
            self._logs[conversation_id] = log
            self._by_customer.setdefault(state.customer_id, []).append(conversation_id)
        result = AppendResult(conversation_id, tuple(stored))
        if idempotency_key is not None:
            self._keys[idempotency_key] = result
        self._feeds.publish(stored)
        return result

    async def find(self, idempotency_key: str) -> AppendResult | None:
        seen = self._keys.get(idempotency_key)
        return AppendResult(seen.conversation_id, seen.events, replayed=True) if seen else None

    async def load(self, conversation_id: str) -> ConversationState | None:
        log = self._logs.get(conversation_id)
        return log.state if log else None

    async def reload(self, conversation_id: str) -> ConversationState | None:
        return await self.load(conversation_id)  # no cache: always the truth

    async def read(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        log = self._logs.get(conversation_id)
        if log is None:
            return []
        # seq n lives at index n-1: slicing is exact, no scan.
        start = max(after_seq, 0)
        end = len(log.events) if limit is None else start + max(limit, 0)
        return log.events[start:end]

    async def list_conversations(self, query: ConversationQuery) -> list[ConversationState]:
        if query.customer_id is not None:
            # "This customer's conversations" is asked at every start: keep it off a scan.
            ids = self._by_customer.get(query.customer_id, [])
            candidates = [self._logs[i] for i in ids]
        else:
            candidates = list(self._logs.values())
        found = [
            log.state
            for log in candidates
            if (query.status is None or log.state.status == query.status)
            and (query.handler is None or log.state.handler == query.handler)
        ]
        found.sort(key=lambda s: (s.updated_at is not None, s.updated_at), reverse=True)
        return found[: max(query.limit, 0)]

    def subscribe(self) -> LocalFeed:
        return self._feeds.open()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        await self._feeds.close()
