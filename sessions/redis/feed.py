"""The cross-node event feed on a Redis Stream.

Every node appends what it committed to one stream (`<prefix>events`) and reads
everyone else's. A Stream rather than pub/sub: a node whose Redis connection blips
continues from the last entry it read instead of silently missing what was published
meanwhile; and entries carry the writing node's id so a node does not feed itself twice
(its own events go to its local consumers at once, before Redis sees them).

The stream is a notification channel, not the source of truth: PostgreSQL is. A
consumer that misses an entry (stream trimmed, Redis down longer than the outbox holds)
is repaired by delivery cursors, which fill any gap in `seq` from the store.

A node alone (no other node announced itself lately) writes nothing to the stream: nobody
would read it, and each entry was a Redis round trip per append, with two processes woken,
on the path every message takes. A node that joins waits, before it serves, until every
node that may have found itself alone has looked again (`_JOIN_GRACE_SECONDS`); what was
written before that is in the store, where a new follower's catch-up reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from sessions.events import Event
from sessions.feed import LocalFeed, LocalFeeds
from sessions.redis.resp import RespConnection
from sessions.redis.resp import supports as resp_supports

__all__ = ["RedisFeedBus"]

log = logging.getLogger("tandem.redis.feed")

_READ_BLOCK_MS = 500
_READ_COUNT = 500
_BACKOFF_MAX = 2.0
_WRITE_MAX = 500
_WRITE_TIMEOUT_SECONDS = 5.0
# Nodes announce themselves in a sorted set (score: last announcement); one not heard
# from for _NODE_TTL_SECONDS is gone.
_PEERS_CHECK_SECONDS = 0.5
_NODE_TTL_SECONDS = 5.0
# How long "no other node" stays true after a look at the registry: a little over the
# time to the next look. After that a node writes again, whatever it last saw, so a
# stalled loop errs on the side of writing.
_ALONE_VALID_SECONDS = 0.75
# A joining node's wait: longer than any "alone" another node may still hold.
_JOIN_GRACE_SECONDS = 1.0


class RedisFeedBus:
    """Local feeds for this process, joined to every other node's through Redis.

    `on_remote(event)` is called for each event another node wrote, before local
    consumers see it (the store drops its cached state of that conversation there).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        node_id: str,
        stream_max_len: int = 100_000,
        outbox_max: int = 10_000,
    ) -> None:
        self._url = url
        self._stream = f"{prefix}events"
        self._nodes = f"{prefix}nodes"
        self._node = node_id
        self._max_len = stream_max_len
        self._outbox: deque[list[dict[str, Any]]] = deque()
        self._outbox_max = outbox_max
        self._outbox_ready = asyncio.Event()
        self._local = LocalFeeds()
        self._on_remote: Callable[[Event], None] = lambda _event: None
        self._redis: aioredis.Redis | None = None
        # Entries are written on a connection of their own, without redis-py (see
        # `resp`) where the URL allows.
        self._writes: RespConnection | aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        # Monotonic time until which this node may take itself to be the only one.
        self._alone_until = 0.0
        self.connected = False

    async def start(self, on_remote: Callable[[Event], None]) -> None:
        self._on_remote = on_remote
        self._redis = aioredis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        self._writes = (
            RespConnection(self._url, connect_timeout=5)
            if resp_supports(self._url)
            else aioredis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
        )
        await self._redis.ping()
        # Announce before writing anything: a node that sees this one reads from a stream
        # position earlier than any of its entries.
        await self._redis.zadd(self._nodes, {self._node: time.time()})
        # Start reading at the end: what was written before this node started is in
        # the store, where resume and gap filling find it.
        # redis-py's stream replies are loosely typed: [(id, {field: value})].
        entries: Any = await self._redis.xrevrange(self._stream, count=1)
        last_id: bytes = entries[0][0] if entries else b"0-0"
        self.connected = True
        self._tasks = [
            asyncio.create_task(self._read(last_id), name="redis-feed-read"),
            asyncio.create_task(self._write(), name="redis-feed-write"),
        ]
        if await self._look_around():
            # Others may have found themselves alone just before we announced: they
            # write again before we take our first client.
            await asyncio.sleep(_JOIN_GRACE_SECONDS)

    def open(self) -> LocalFeed:
        return self._local.open()

    @property
    def alone(self) -> bool:
        """No other node lately: what this node writes goes to its local consumers only."""
        return time.monotonic() < self._alone_until

    def publish(self, events: Iterable[Event]) -> None:
        batch = list(events)
        self._local.publish(batch)
        if self.alone:
            return
        if len(self._outbox) >= self._outbox_max:
            dropped = self._outbox.popleft()
            log.warning(
                "feed outbox full: %d events not sent to other nodes (they fill the "
                "gap from the store)",
                len(dropped),
            )
        self._outbox.append([event.to_json() for event in batch])
        self._outbox_ready.set()

    async def ping(self) -> None:
        if self._redis is None:
            raise RedisError("not started")
        await self._redis.ping()

    async def close(self) -> None:
        """Flush the outbox to Redis (briefly), stop reading, disconnect.

        The loops are asked to stop rather than cancelled: cancelling redis-py in the
        middle of a blocking XREAD can leave the task stuck, so the reader notices the
        flag when its (short) block ends, and is cancelled only if it does not.
        """
        self._stopping = True
        self._outbox_ready.set()
        for task in self._tasks:
            try:
                await asyncio.wait_for(asyncio.shield(task), _READ_BLOCK_MS / 1000 + 1.5)
            except (TimeoutError, RedisError, OSError):
                task.cancel()
        await self._local.close()
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.zrem(self._nodes, self._node)
            await self._redis.aclose()
        if isinstance(self._writes, RespConnection):
            self._writes.close()
        elif self._writes is not None:
            await self._writes.aclose()

    async def _add(self, events: str) -> None:
        if isinstance(self._writes, RespConnection):
            await self._writes.command(
                "XADD", self._stream, "MAXLEN", "~", self._max_len, "*",
                "node", self._node, "events", events,
            )  # fmt: skip
        elif self._writes is not None:
            await self._writes.xadd(
                self._stream,
                {"node": self._node, "events": events},
                maxlen=self._max_len,
                approximate=True,
            )

    async def _write(self) -> None:
        backoff = 0.05
        while not (self._stopping and not self._outbox):
            await self._outbox_ready.wait()
            while self._outbox:
                if self._stopping and backoff >= _BACKOFF_MAX:
                    log.warning(
                        "feed: %d batches not sent to other nodes at shutdown", len(self._outbox)
                    )
                    return
                # Everything queued so far goes in one entry: one command, one round trip.
                batches = list(itertools.islice(self._outbox, _WRITE_MAX))
                try:
                    async with asyncio.timeout(_WRITE_TIMEOUT_SECONDS):
                        await self._add(json.dumps(list(itertools.chain(*batches))))
                except (RedisError, OSError, TimeoutError) as error:
                    self.connected = False
                    log.warning("feed: Redis write failed (%s); retrying in %.2fs", error, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, _BACKOFF_MAX)
                    continue
                # By identity: an overflow may have dropped some of these meanwhile.
                sent = {id(batch) for batch in batches}
                while self._outbox and id(self._outbox[0]) in sent:
                    self._outbox.popleft()
                self.connected = True
                backoff = 0.05
            self._outbox_ready.clear()

    async def _read(self, last_id: bytes) -> None:
        assert self._redis is not None
        backoff = 0.05
        peers_checked_at = 0.0
        while not self._stopping:
            try:
                if time.monotonic() >= peers_checked_at + _PEERS_CHECK_SECONDS:
                    # The stream's end first, then the registry: a node that announces
                    # itself after the check writes after that end, so nothing it writes
                    # is skipped when we start reading from there.
                    latest: Any = await self._redis.xrevrange(self._stream, count=1)
                    if not await self._look_around():
                        # Alone: reading back our own entries would cost a round trip per
                        # message for nothing.
                        if latest:
                            last_id = latest[0][0]
                        await asyncio.sleep(_PEERS_CHECK_SECONDS)
                        continue
                    peers_checked_at = time.monotonic()
                answer: Any = await self._redis.xread(
                    {self._stream: last_id}, count=_READ_COUNT, block=_READ_BLOCK_MS
                )
            except (RedisError, OSError) as error:
                self.connected = False
                log.warning("feed: Redis read failed (%s); retrying in %.2fs", error, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            self.connected = True
            backoff = 0.05
            for _stream, entries in answer or ():
                for entry_id, fields in entries:
                    last_id = entry_id
                    if fields.get(b"node", b"").decode() == self._node:
                        continue
                    self._deliver(fields)

    async def _look_around(self) -> bool:
        """Announce this node and tell whether any other node announced itself lately;
        found alone, this node stops writing to the stream for `_ALONE_VALID_SECONDS`."""
        assert self._redis is not None
        looked_at = time.monotonic()
        now = time.time()
        await self._redis.zadd(self._nodes, {self._node: now})
        recent: Any = await self._redis.zrangebyscore(self._nodes, now - _NODE_TTL_SECONDS, "+inf")
        others = any(member.decode() != self._node for member in recent)
        # From when the look began: a node that announced during it may not be in it.
        self._alone_until = 0.0 if others else looked_at + _ALONE_VALID_SECONDS
        return others

    def _deliver(self, fields: dict[bytes, bytes]) -> None:
        try:
            events = [Event.from_json(raw) for raw in json.loads(fields[b"events"])]
        except (KeyError, ValueError, TypeError) as error:
            log.error("feed: unreadable stream entry skipped: %s", error)
            return
        for event in events:
            self._on_remote(event)
        self._local.publish(events)
