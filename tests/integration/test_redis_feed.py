"""PostgreSQL log + Redis (Streams feed, shared hot state): the store contract, and two
nodes seeing each other."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from sessions.events import Event
from sessions.postgres import PostgresStore
from sessions.redis import RedisFeedBus, RedisStateCache
from tests.conftest import DATABASE_URL, REDIS_URL
from tests.integration.store_contract import StoreContract, message, started


async def node(schema: str, prefix: str) -> PostgresStore:
    feed = RedisFeedBus(REDIS_URL, prefix=prefix, node_id=f"node-{uuid.uuid4().hex[:6]}")
    return await PostgresStore.open(
        DATABASE_URL,
        schema=schema,
        migrate_on_start=True,
        feed=feed,
        shared_states=RedisStateCache(REDIS_URL, prefix=prefix),
    )


class TestPostgresWithRedisFeed(StoreContract):
    @pytest.fixture
    async def store(self, pg_schema: str, redis_prefix: str) -> AsyncIterator[PostgresStore]:
        store = await node(pg_schema, redis_prefix)
        yield store
        await store.close()


async def collect(feed: AsyncIterator[Event], count: int) -> list[Event]:
    got: list[Event] = []
    async for event in feed:
        got.append(event)
        if len(got) == count:
            break
    return got


async def test_a_node_hears_what_another_node_wrote(pg_schema: str, redis_prefix: str) -> None:
    a = await node(pg_schema, redis_prefix)
    b = await node(pg_schema, redis_prefix)
    try:
        a_feed, b_feed = a.subscribe(), b.subscribe()
        heard_by_b = asyncio.create_task(collect(b_feed, 4))
        heard_by_a = asyncio.create_task(collect(a_feed, 4))
        await a.append("c1", 0, started("alice"))
        assert (await b.load("c1")) is not None  # B caches the state it read
        await a.append("c1", 2, [message("one"), message("two")])
        got = await asyncio.wait_for(heard_by_b, 5)
        assert [(e.conversation_id, e.seq) for e in got] == [
            ("c1", 1),
            ("c1", 2),
            ("c1", 3),
            ("c1", 4),
        ]
        # A hears its own writes once, locally, not again through Redis.
        assert [e.seq for e in await asyncio.wait_for(heard_by_a, 5)] == [1, 2, 3, 4]
        await asyncio.sleep(0.3)
        assert a_feed._queue.empty()  # type: ignore[attr-defined]
        # B's cached state was dropped when it heard A's write: B now appends at seq 5.
        state = await b.load("c1")
        assert state is not None and state.last_seq == 4
        await b.append("c1", 4, [message("from b")])
        await a_feed.aclose()
        await b_feed.aclose()
    finally:
        await a.close()
        await b.close()


async def test_a_stale_node_loses_the_race_and_catches_up(
    pg_schema: str, redis_prefix: str
) -> None:
    a = await node(pg_schema, redis_prefix)
    b = await node(pg_schema, redis_prefix)
    try:
        await a.append("c1", 0, started("alice"))
        await b.load("c1")
        await a.append("c1", 2, [message("a wins")])
        # Before B hears of it, B's cache says seq 2; the database says 3.
        from sessions.errors import ConcurrencyError

        with pytest.raises(ConcurrencyError):
            await b.append("c1", 2, [message("b is late")])
        state = await b.load("c1")
        assert state is not None and state.last_seq == 3
    finally:
        await a.close()
        await b.close()


async def stream_length(prefix: str) -> int:
    client = aioredis.from_url(REDIS_URL)
    try:
        return int(await client.xlen(f"{prefix}events"))
    finally:
        await client.aclose()


async def test_a_node_alone_writes_nothing_to_the_stream(pg_schema: str, redis_prefix: str) -> None:
    """Nobody would read it: a lone node's appends go to its own consumers only."""
    a = await node(pg_schema, redis_prefix)
    try:
        feed = a.subscribe()
        heard = asyncio.create_task(collect(feed, 2))
        await a.append("c1", 0, started("alice"))
        assert [e.seq for e in await asyncio.wait_for(heard, 5)] == [1, 2]
        await asyncio.sleep(0.2)  # the writer would have sent it by now
        assert await stream_length(redis_prefix) == 0
        await feed.aclose()
    finally:
        await a.close()


async def test_a_node_that_joins_hears_every_append_made_after_it_started(
    pg_schema: str, redis_prefix: str
) -> None:
    """A writes without pause, believing itself alone, while B starts: from the moment B's
    start returns (when it would take clients), B's feed has every one of A's appends."""
    a = await node(pg_schema, redis_prefix)
    appended: list[int] = []
    stop = asyncio.Event()

    async def keep_writing() -> None:
        await a.append("c1", 0, started("alice"))
        seq = 2
        while not stop.is_set():
            await a.append("c1", seq, [message(f"m{seq + 1}")])
            seq += 1
            appended.append(seq)
            await asyncio.sleep(0.005)

    writer = asyncio.create_task(keep_writing())
    b: PostgresStore | None = None
    try:
        await asyncio.sleep(1.2)  # A has looked around (more than once) and found no one
        b = await node(pg_schema, redis_prefix)
        b_feed = b.subscribe()
        from_seq = appended[-1] + 1 if appended else 1
        await asyncio.sleep(1.0)
        stop.set()
        await writer
        last = appended[-1]
        assert last > from_seq, "A kept writing while B was up"
        heard: list[int] = []
        async with asyncio.timeout(5):
            async for event in b_feed:
                heard.append(event.seq)
                if event.seq == last:
                    break
        assert [s for s in heard if s >= from_seq] == list(range(from_seq, last + 1))
        await b_feed.aclose()
    finally:
        stop.set()
        await asyncio.gather(writer, return_exceptions=True)
        await a.close()
        if b is not None:
            await b.close()
