"""The hot state shared through Redis: a node new to a conversation reads it there, a
late or stale entry never causes a wrong write, and the store still works without it."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis

from sessions.errors import ConcurrencyError
from sessions.redis import RedisStateCache
from sessions.redis.state_cache import decode_state, encode_state
from sessions.state import ActiveCall, ConversationState
from tests.conftest import DATABASE_URL, REDIS_URL
from tests.integration.store_contract import message, started
from tests.integration.test_redis_feed import node


async def shared_seq(prefix: str, conversation_id: str) -> int | None:
    client = aioredis.from_url(REDIS_URL)
    try:
        raw = await client.hget(f"{prefix}state:{conversation_id}", "state")
        return None if raw is None else decode_state(raw).last_seq
    finally:
        await client.aclose()


async def written(prefix: str, conversation_id: str, seq: int) -> None:
    """The writer flushes shortly after an append: wait for it, within reason."""
    for _ in range(150):
        if await shared_seq(prefix, conversation_id) == seq:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"seq {seq} of {conversation_id} never reached Redis")


def test_the_encoding_keeps_every_field() -> None:
    from datetime import UTC, datetime
    from types import MappingProxyType

    state = ConversationState(
        id="c1",
        customer_id="alice",
        status="open",
        handler="agent:anna",
        channels=frozenset({"chat", "call"}),
        last_seq=7,
        started_at=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
        updated_at=datetime(2026, 11, 25, 9, 5, tzinfo=UTC),
        handoff_context=MappingProxyType({"summary": "card blocked", "transcript": ["a"]}),
        read_marks=MappingProxyType({"customer:alice": 5}),
        call=ActiveCall("k-1", "video", "held", "anna", True),
    )
    assert decode_state(encode_state(state)) == state


async def test_a_node_new_to_a_conversation_reads_its_state_from_redis(
    pg_schema: str, redis_prefix: str
) -> None:
    a = await node(pg_schema, redis_prefix)
    b = await node(pg_schema, redis_prefix)
    try:
        await a.append("c1", 0, started("alice"))
        await a.append("c1", 2, [message("hello")])
        await written(redis_prefix, "c1", 3)
        # Take PostgreSQL's projection away: B can only know seq 3 from Redis.
        conn = await asyncpg.connect(DATABASE_URL)
        await conn.execute(f'UPDATE "{pg_schema}".conversations SET last_seq = 0')
        await conn.close()
        state = await b.load("c1")
        assert state is not None and state.last_seq == 3 and state.customer_id == "alice"
    finally:
        await a.close()
        await b.close()


async def test_a_stale_shared_state_costs_a_retry_not_a_wrong_write(
    pg_schema: str, redis_prefix: str
) -> None:
    """A node that never heard of the conversation (it joined after, say, taking over a
    dead node's customers) may believe a state the dead node did not flush: the append
    is refused, and the retry reads PostgreSQL."""
    a = await node(pg_schema, redis_prefix)
    try:
        await a.append("c1", 0, started("alice"))
        await written(redis_prefix, "c1", 2)
        stale = await a.load("c1")
        assert stale is not None
        await a.append("c1", 2, [message("from a")])
        await written(redis_prefix, "c1", 3)
    finally:
        await a.close()
    # Plant the older state, as if A had died before its last flush (put-if-newer
    # refuses it, so overwrite the hash directly).
    client = aioredis.from_url(REDIS_URL)
    planted = {"seq": 2, "state": encode_state(stale)}
    await client.hset(f"{redis_prefix}state:c1", mapping=planted)
    await client.aclose()
    b = await node(pg_schema, redis_prefix)
    try:
        loaded = await b.load("c1")
        assert loaded is not None and loaded.last_seq == 2  # B believes Redis...
        with pytest.raises(ConcurrencyError):
            await b.append("c1", 2, [message("from b")])
        fresh = await b.load("c1")  # ...until refused: then it asks PostgreSQL
        assert fresh is not None and fresh.last_seq == 3
        result = await b.append("c1", 3, [message("from b")])
        assert result.seqs == [4]
        texts = [e.data.get("text") for e in await b.read("c1", 2)]
        assert texts == ["from a", "from b"]
    finally:
        await b.close()


async def test_a_late_write_never_rolls_the_shared_state_back(redis_prefix: str) -> None:
    cache = RedisStateCache(REDIS_URL, prefix=redis_prefix)
    await cache.start()
    try:
        cache.put(ConversationState(id="c1", customer_id="alice", last_seq=5))
        await cache.flush()
        cache.put(ConversationState(id="c1", customer_id="alice", last_seq=4))
        await cache.flush()
        got = await cache.get("c1")
        assert got is not None and got.last_seq == 5
    finally:
        await cache.close()


async def test_a_flush_writes_every_state_in_chunks(redis_prefix: str) -> None:
    """Many busy conversations: every state lands, written a chunk per round trip (so
    the encoding never holds the event loop for all of them at once)."""
    cache = RedisStateCache(REDIS_URL, prefix=redis_prefix)
    writes = cache._writes
    assert writes is not None
    sizes: list[int] = []
    send = writes.pipeline

    async def counted(commands: Any) -> list[Any]:
        sizes.append(len(commands))
        return await send(commands)

    writes.pipeline = counted  # type: ignore[method-assign]
    try:
        for n in range(100):
            cache.put(ConversationState(id=f"c{n}", customer_id="alice", last_seq=n + 1))
        await cache.flush()
        assert sum(sizes) == 100 and len(sizes) > 1 and max(sizes) < 100
        for n in (0, 31, 32, 99):
            assert await shared_seq(redis_prefix, f"c{n}") == n + 1
    finally:
        await cache.close()


async def test_a_flush_reloads_the_script_redis_does_not_know(redis_prefix: str) -> None:
    """After a Redis restart its script cache is empty: the write loads it and goes on."""
    cache = RedisStateCache(REDIS_URL, prefix=redis_prefix)
    cache._sha = "0" * 40  # a script this Redis has never seen, as after a restart
    try:
        cache.put(ConversationState(id="c1", customer_id="alice", last_seq=3))
        await cache.flush()
        assert await shared_seq(redis_prefix, "c1") == 3
        cache.put(ConversationState(id="c1", customer_id="alice", last_seq=2))
        await cache.flush()  # older: refused by the script, not an error
        assert await shared_seq(redis_prefix, "c1") == 3
    finally:
        await cache.close()


async def test_a_node_does_not_use_a_shared_state_older_than_what_it_heard(
    pg_schema: str, redis_prefix: str
) -> None:
    """The shared state lags its writer by up to the write delay; a node that already
    heard of a later event (through the feed) must decide on that event, not before it."""
    a = await node(pg_schema, redis_prefix)
    b = await node(pg_schema, redis_prefix)
    try:
        await a.append("c1", 0, started("alice"))
        await written(redis_prefix, "c1", 2)
        feed = b.subscribe()
        await a.append("c1", 2, [message("new")])
        async with asyncio.timeout(5):
            async for event in feed:
                if event.seq == 3:
                    break
        await feed.aclose()
        # Redis may still say seq 2 (A flushes later): B, having heard seq 3, asks PostgreSQL.
        client = aioredis.from_url(REDIS_URL)
        stale = ConversationState(id="c1", customer_id="alice", last_seq=2)
        await client.hset(
            f"{redis_prefix}state:c1", mapping={"seq": 2, "state": encode_state(stale)}
        )
        await client.aclose()
        state = await b.load("c1")
        assert state is not None and state.last_seq == 3
    finally:
        await a.close()
        await b.close()
