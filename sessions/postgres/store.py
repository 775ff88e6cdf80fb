"""`PostgresStore`: the conversation log in PostgreSQL, one transaction per append.

    BEGIN
      key seen?                      -> ROLLBACK, return the recorded result
      INSERT conversation (seq 0) | UPDATE ... WHERE last_seq = expected   (else conflict)
      INSERT events (conversation_id, seq) ...                             (unique)
      INSERT idempotency key                                               (unique)
    COMMIT, then hand the events to this process's feed

The projection row is updated in the same transaction as the events, so a reader never
sees one without the other. Connection failures surface as `StoreUnavailable` ("retry"):
the command was not applied, or it was and its key makes the retry return the same ack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any

import asyncpg

from sessions.errors import ConcurrencyError, StoreUnavailable
from sessions.events import Event, NewEvent
from sessions.feed import FeedBus, LocalFeeds
from sessions.postgres.migrations_runner import check_schema, migrate
from sessions.postgres.state_cache import SharedStates, StateCache
from sessions.state import ActiveCall, ConversationState, apply
from sessions.store import AppendResult, ConversationQuery, EventFeed

__all__ = ["PostgresStore"]

log = logging.getLogger("tandem.postgres")

# The most appends one batch carries.
_BATCH_MAX = 200

_UNAVAILABLE = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    TimeoutError,
)

_STATE_COLUMNS = (
    "id, customer_id, status, handler, channels, last_seq, started_at, updated_at, "
    "handoff_context, read_marks, call"
)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release. asyncpg's default sends `RESET ALL; UNLISTEN *; ...`,
    a round trip per release, to undo session state this store never leaves behind (it
    sets nothing, listens to nothing, holds no cursor; the migrations' advisory lock is
    released where it is taken). asyncpg still rolls back a transaction left open."""


class PostgresStore:
    """Implements `SessionStore`. `start()` connects and checks the schema; `close()` ends."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "tandem",
        min_size: int = 2,
        max_size: int = 10,
        migrate_on_start: bool = False,
        command_timeout: float = 5.0,
        state_cache_size: int = 10_000,
        feed: FeedBus | None = None,
        writers: int = 1,
        shared_states: SharedStates | None = None,
    ) -> None:
        self._dsn = dsn
        self._schema = schema
        self._sizes = (min_size, max_size)
        self._migrate_on_start = migrate_on_start
        self._command_timeout = command_timeout
        self._pool_or_none: asyncpg.Pool | None = None
        self._feeds: FeedBus = feed or LocalFeeds()
        # The state after this process's last append or read: the next append folds onto
        # it without a read. Kept exact by the conditional update (a stale entry makes the
        # append fail, which drops it) and by `forget` from a cross-node feed.
        self._states = StateCache(state_cache_size)
        self._shared = shared_states
        # Conversations whose shared state proved stale (an append was refused): their
        # next load reads PostgreSQL.
        self._distrusted: set[str] = set()
        # The last seq this node heard of, per conversation, from the feed: a shared state
        # older than that is stale (its writer had not flushed it yet) and is not used, so
        # nothing this node acts on after hearing of an event is decided on a state
        # without it (an agent accepting an offer the feed just brought, say).
        self._heard: OrderedDict[str, int] = OrderedDict()
        self._heard_size = state_cache_size
        self._pending: list[tuple[dict[str, Any], asyncio.Future[asyncpg.Record]]] = []
        self._flushers = 0
        # Batches in flight at once. Fewer means bigger batches (fewer commits: more
        # throughput on a busy node); more means less waiting when the database is far.
        # One: on the relay benchmark, a second writer bought no latency (PostgreSQL
        # flushes one commit's WAL at a time anyway) and cost ~15 % more CPU per message
        # in this process and ~30 % more in PostgreSQL, batches being half the size.
        self._writers = max(writers, 1)
        self._flush_tasks: set[asyncio.Task[None]] = set()
        # Connections the batches are written on, kept out of the pool between batches:
        # an acquire and a release per batch cost more than the batch's own statement.
        # Only while that leaves the pool a connection for reads.
        self._idle_writers: list[asyncpg.Connection] = []
        self._keep_writers = self._writers < max_size
        self._closing = False

    @classmethod
    async def open(cls, dsn: str, **options: Any) -> PostgresStore:
        store = cls(dsn, **options)
        await store.start()
        return store

    async def start(self) -> None:
        """Connect, check (or bring) the schema to this code's version, and pool."""
        pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._sizes[0],
            max_size=self._sizes[1],
            command_timeout=self._command_timeout,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"search_path": f'"{self._schema}"', "application_name": "tandem"},
        )
        try:
            async with pool.acquire() as conn:
                if self._migrate_on_start:
                    await migrate(conn, self._schema)
                else:
                    await check_schema(conn, self._schema)
            # Another node's write makes what this one cached of that conversation stale.
            await self._feeds.start(self._remote)
            if self._shared is not None:
                await self._shared.start()
        except BaseException:
            await pool.close()
            raise
        self._pool_or_none = pool

    @property
    def _pool(self) -> asyncpg.Pool:
        if self._pool_or_none is None:
            raise StoreUnavailable("the PostgreSQL store is not started")
        return self._pool_or_none

    @property
    def schema(self) -> str:
        return self._schema

    async def append(
        self,
        conversation_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        *,
        idempotency_key: str | None = None,
    ) -> AppendResult:
        try:
            result = await self._append(conversation_id, expected_seq, events, idempotency_key)
        except asyncpg.UniqueViolationError as violation:
            # Two writers with one key raced past the check: the loser replays the winner.
            self._stale(conversation_id)
            if idempotency_key is not None and (seen := await self.find(idempotency_key)):
                return seen
            raise ConcurrencyError(conversation_id, expected_seq, -1) from violation
        except _UNAVAILABLE as failure:
            self._states.forget(conversation_id)
            raise StoreUnavailable(f"PostgreSQL unavailable: {failure}") from failure
        if not result.replayed:
            self._feeds.publish(result.events)
        return result

    async def _append(
        self,
        conversation_id: str,
        expected_seq: int,
        events: Sequence[NewEvent],
        key: str | None,
    ) -> AppendResult:
        state = await self.load(conversation_id) or ConversationState(id=conversation_id)
        before = state
        if state.last_seq != expected_seq:
            if key is not None and (seen := await self.find(key)):
                return seen
            raise ConcurrencyError(conversation_id, expected_seq, state.last_seq)
        stored: list[Event] = []
        for new in events:
            event = Event.stored(conversation_id, state.last_seq + 1, new)
            state = apply(state, event)
            stored.append(event)
        item: dict[str, Any] = {
            "id": conversation_id,
            "expected": expected_seq,
            "events": [e.to_json() for e in stored],
            "key": key,
            "customer_id": state.customer_id,
            "status": state.status,
            "handler": state.handler,
            "channels": sorted(state.channels),
            "last_seq": state.last_seq,
            "started_at": _iso(state.started_at),
            "updated_at": _iso(state.updated_at),
            "handoff_context": _changed(state.handoff_context, before.handoff_context),
            "read_marks": _changed(state.read_marks, before.read_marks),
        }
        if state.call != before.call:
            # Only when it changed: most appends are chat, with no call to rewrite.
            item["call"] = state.call.to_json() if state.call is not None else None
        row = await self._batched(item)
        if row["replayed"]:
            async with self._pool.acquire() as conn:
                recorded = await self._events(conn, conversation_id, row["seqs"])
            return AppendResult(conversation_id, tuple(recorded), replayed=True)
        if row["seqs"] is None:
            # Another node appended first: what we knew of this conversation is stale.
            self._stale(conversation_id)
            raise ConcurrencyError(conversation_id, expected_seq, int(row["actual"]))
        self._remember(state)
        return AppendResult(conversation_id, tuple(stored))

    def _remote(self, event: Event) -> None:
        self._states.forget(event.conversation_id)
        if self._shared is not None:
            self._heard[event.conversation_id] = max(
                event.seq, self._heard.pop(event.conversation_id, 0)
            )
            if len(self._heard) > self._heard_size:
                self._heard.popitem(last=False)

    def _remember(self, state: ConversationState) -> None:
        self._states.put(state)
        if self._shared is not None:
            self._shared.put(state)

    def _stale(self, conversation_id: str) -> None:
        self._states.forget(conversation_id)
        if self._shared is not None:
            self._distrusted.add(conversation_id)

    async def _batched(self, item: dict[str, Any]) -> asyncpg.Record:
        """Write `item` in the next batch; its result row. Group commit: appends that
        arrive while `writers` batches are being written wait for the next one,
        so under load one round trip and one commit carry many conversations' appends."""
        done: asyncio.Future[asyncpg.Record] = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._flushers < self._writers:
            self._flushers += 1
            flusher = asyncio.create_task(self._flush(), name="postgres-append-batch")
            self._flush_tasks.add(flusher)
            flusher.add_done_callback(self._flush_tasks.discard)
        return await done

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:_BATCH_MAX], self._pending[_BATCH_MAX:]
                await self._write_batch(batch)
        finally:
            self._flushers -= 1

    async def _write_batch(
        self, batch: list[tuple[dict[str, Any], asyncio.Future[asyncpg.Record]]]
    ) -> None:
        try:
            conn = self._idle_writers.pop() if self._idle_writers else await self._pool.acquire()
            try:
                rows = await conn.fetch(
                    "SELECT idx, replayed, seqs, actual FROM tandem_append_batch($1)",
                    [item for item, _ in batch],
                )
            except BaseException:
                # Back to the pool, which closes it if it broke; the first error is the one
                # the appends get.
                with contextlib.suppress(Exception):
                    await self._pool.release(conn)
                raise
            await self._park(conn)
        except asyncio.CancelledError as error:
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            raise
        except Exception as error:
            if len(batch) > 1 and not isinstance(error, _UNAVAILABLE):
                # One bad append must not fail the others that shared its transaction:
                # write them one by one, so only the culprit gets the error.
                for one in batch:
                    await self._write_batch([one])
                return
            for _, done in batch:
                if not done.done():
                    done.set_exception(error)
            return
        for row in rows:
            done = batch[int(row["idx"]) - 1][1]
            if not done.done():
                done.set_result(row)

    async def _park(self, conn: asyncpg.Connection) -> None:
        if self._closing or not self._keep_writers:
            await self._pool.release(conn)
        else:
            self._idle_writers.append(conn)

    async def find(self, idempotency_key: str) -> AppendResult | None:
        try:
            async with self._pool.acquire() as conn:
                return await self._find(conn, idempotency_key)
        except _UNAVAILABLE as failure:
            raise StoreUnavailable(f"PostgreSQL unavailable: {failure}") from failure

    async def _find(self, conn: asyncpg.Connection, key: str) -> AppendResult | None:
        row = await conn.fetchrow(
            "SELECT conversation_id, seqs FROM idempotency_keys WHERE key = $1", key
        )
        if row is None:
            return None
        events = await self._events(conn, row["conversation_id"], row["seqs"])
        return AppendResult(row["conversation_id"], tuple(events), replayed=True)

    async def _events(
        self, conn: asyncpg.Connection, conversation_id: str, seqs: list[int]
    ) -> list[Event]:
        rows = await conn.fetch(
            "SELECT conversation_id, seq, type, at, actor, data FROM events "
            "WHERE conversation_id = $1 AND seq = ANY($2::bigint[]) ORDER BY seq",
            conversation_id,
            seqs,
        )
        return [_event(r) for r in rows]

    async def load(self, conversation_id: str) -> ConversationState | None:
        if (cached := self._states.get(conversation_id)) is not None:
            return cached
        if (
            self._shared is not None
            and conversation_id not in self._distrusted
            and (shared := await self._shared.get(conversation_id)) is not None
            and shared.last_seq >= self._heard.get(conversation_id, 0)
        ):
            self._states.put(shared)
            return shared
        row = await self._fetchrow(
            f"SELECT {_STATE_COLUMNS} FROM conversations WHERE id = $1", conversation_id
        )
        if row is None:
            return None
        self._distrusted.discard(conversation_id)
        state = _state(row)
        self._remember(state)
        return state

    async def reload(self, conversation_id: str) -> ConversationState | None:
        self._states.forget(conversation_id)
        self._distrusted.add(conversation_id)  # past the shared cache too
        return await self.load(conversation_id)

    def forget(self, conversation_id: str) -> None:
        """Drop the cached state: another node changed the conversation (its feed says)."""
        self._states.forget(conversation_id)

    async def read(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[Event]:
        rows = await self._fetch(
            "SELECT conversation_id, seq, type, at, actor, data FROM events "
            "WHERE conversation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            conversation_id,
            after_seq,
            limit,
        )
        return [_event(r) for r in rows]

    async def list_conversations(self, query: ConversationQuery) -> list[ConversationState]:
        rows = await self._fetch(
            f"SELECT {_STATE_COLUMNS} FROM conversations "
            "WHERE ($1::text IS NULL OR customer_id = $1) "
            "AND ($2::text IS NULL OR status = $2) "
            "AND ($3::text IS NULL OR handler = $3) "
            "ORDER BY updated_at DESC NULLS LAST LIMIT $4",
            query.customer_id,
            query.status,
            query.handler,
            max(query.limit, 0),
        )
        return [_state(r) for r in rows]

    def subscribe(self) -> EventFeed:
        return self._feeds.open()

    async def ping(self) -> None:
        await self._fetchrow("SELECT 1")

    async def ping_feed(self) -> None:
        await self._feeds.ping()

    async def close(self) -> None:
        self._closing = True
        if self._flush_tasks:
            # Batches being written end (their appends are answered) before the pool does.
            await asyncio.wait(self._flush_tasks, timeout=self._command_timeout)
        await self._feeds.close()
        if self._shared is not None:
            await self._shared.close()
        if self._pool_or_none is not None:
            while self._idle_writers:
                await self._pool_or_none.release(self._idle_writers.pop())
            await self._pool_or_none.close()
            self._pool_or_none = None

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        try:
            async with self._pool.acquire() as conn:
                return list(await conn.fetch(sql, *args))
        except _UNAVAILABLE as failure:
            raise StoreUnavailable(f"PostgreSQL unavailable: {failure}") from failure

    async def _fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        rows = await self._fetch(sql, *args)
        return rows[0] if rows else None


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def _changed(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, Any] | None:
    """`now` to write, or None when `apply` left it as it was (the same object)."""
    return None if now is before else dict(now)


def _event(row: asyncpg.Record) -> Event:
    return Event(
        conversation_id=row["conversation_id"],
        seq=int(row["seq"]),
        type=row["type"],
        at=row["at"],
        actor=row["actor"],
        data=row["data"],
    )


def _state(row: asyncpg.Record) -> ConversationState:
    started: datetime | None = row["started_at"]
    return ConversationState(
        id=row["id"],
        customer_id=row["customer_id"],
        status=row["status"],
        handler=row["handler"],
        channels=frozenset(row["channels"]),
        last_seq=int(row["last_seq"]),
        started_at=started,
        updated_at=row["updated_at"],
        handoff_context=MappingProxyType(dict(row["handoff_context"])),
        read_marks=MappingProxyType(dict(row["read_marks"])),
        call=ActiveCall.from_json(row["call"]),
    )
