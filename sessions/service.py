"""The conversation service: the one path by which anything changes a conversation.

    key seen? -> return its ack;  lock -> load -> decide -> append -> unlock

Idempotency keys are scoped to the sender, so two clients choosing the same key never
collide. A concurrent writer on another node makes `append` raise `ConcurrencyError`;
the command is then decided again on the fresh state, a bounded number of times.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sessions.commands import Command, StartConversation
from sessions.decide import decide
from sessions.errors import ConcurrencyError, DomainError
from sessions.events import Event
from sessions.locks import ConversationLocks
from sessions.state import ConversationState, fold
from sessions.store import AppendResult, ConversationQuery, SessionStore

__all__ = ["CommandOutcome", "ConversationService", "new_conversation_id", "utc_now"]

_MAX_CONFLICT_RETRIES = 3


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_conversation_id() -> str:
    return f"c-{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    conversation_id: str
    events: tuple[Event, ...]
    replayed: bool = False
    created: bool = False

    @property
    def seq(self) -> int | None:
        """The seq of the command's main (last) event, if it appended any."""
        return self.events[-1].seq if self.events else None

    @property
    def seqs(self) -> list[int]:
        return [event.seq for event in self.events]


class ConversationService:
    def __init__(
        self,
        store: SessionStore,
        locks: ConversationLocks,
        *,
        clock: Callable[[], datetime] = utc_now,
        new_id: Callable[[], str] = new_conversation_id,
    ) -> None:
        self._store = store
        self._locks = locks
        self._clock = clock
        self._new_id = new_id

    @property
    def store(self) -> SessionStore:
        return self._store

    async def start(self, customer_id: str, channel: str, *, key: str) -> CommandOutcome:
        """The customer's open conversation, or a new one: one conversation per customer,
        whatever door they came in by."""
        scoped = _scope(f"customer:{customer_id}", key)
        if seen := await self._store.find(scoped):
            return _outcome(seen, created=True)
        async with self._locks.hold(f"customer:{customer_id}"):
            open_ = await self._store.list_conversations(
                ConversationQuery(customer_id=customer_id, status="open", limit=1)
            )
            if open_:
                return CommandOutcome(open_[0].id, (), created=False)
            conversation_id = self._new_id()
            new = decide(
                ConversationState(id=conversation_id),
                StartConversation(customer_id, channel),
                self._clock(),
            )
            result = await self._store.append(conversation_id, 0, new, idempotency_key=scoped)
            return _outcome(result, created=True)

    async def execute(
        self, conversation_id: str, command: Command, *, actor: str, key: str | None = None
    ) -> CommandOutcome:
        """Decide and append `command`. `actor` scopes the idempotency key.

        The key is not looked up first: the store's append checks it atomically, so a
        retry that decides the same way costs one write, not a read and a write. Only a
        retry that now decides differently (refused, or nothing to do because the first
        attempt already did it) looks the key up, to answer with the original ack.
        """
        scoped = _scope(actor, key) if key is not None else None
        async with self._locks.hold(conversation_id):
            for _ in range(_MAX_CONFLICT_RETRIES):
                state = await self._store.load(conversation_id)
                try:
                    if state is None:
                        raise DomainError("not_found", f"no conversation {conversation_id}")
                    new = decide(state, command, self._clock())
                except DomainError:
                    # A refusal may come from a cached state that is behind (another
                    # node's write not heard yet): decide again on the store's own.
                    fresh = await self._store.reload(conversation_id)
                    behind = state.last_seq if state is not None else 0
                    if fresh is not None and fresh.last_seq != behind:
                        continue
                    if scoped is not None and (seen := await self._store.find(scoped)):
                        return _outcome(seen)
                    raise
                if not new:
                    if scoped is not None and (seen := await self._store.find(scoped)):
                        return _outcome(seen)
                    return CommandOutcome(conversation_id, ())
                try:
                    result = await self._store.append(
                        conversation_id, state.last_seq, new, idempotency_key=scoped
                    )
                except ConcurrencyError:
                    continue
                return _outcome(result)
        raise DomainError("conflict", f"conversation {conversation_id} is busy; retry")

    async def state(self, conversation_id: str) -> ConversationState | None:
        return await self._store.load(conversation_id)

    async def history(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        return await self._store.read(conversation_id, after_seq, limit)

    async def list(self, query: ConversationQuery) -> list[ConversationState]:
        return await self._store.list_conversations(query)

    async def rebuild(self, conversation_id: str) -> ConversationState:
        """The state folded from the whole log (for audits and store self-checks)."""
        events: Sequence[Event] = await self._store.read(conversation_id)
        return fold(conversation_id, events)


def _scope(actor: str, key: str) -> str:
    return f"{actor}|{key}"


def _outcome(result: AppendResult, *, created: bool = False) -> CommandOutcome:
    return CommandOutcome(result.conversation_id, result.events, result.replayed, created)
