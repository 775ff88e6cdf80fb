"""In-process event feeds: what a store hands to this process's consumers after a write."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Protocol

from sessions.events import Event

__all__ = ["FeedBus", "LocalFeed", "LocalFeeds"]


class LocalFeed:
    """One subscriber's queue. Unbounded: its consumers are this process's own fast loops
    (delivery, conductor), which hand slow work to tasks of their own."""

    def __init__(self, owner: LocalFeeds) -> None:
        self._owner = owner
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, event: Event) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            yield event

    async def aclose(self) -> None:
        self._owner.discard(self)
        self._queue.put_nowait(None)


class FeedBus(Protocol):
    """Where a store hands what it committed: this process's feeds, and (in a cluster)
    everyone else's. `on_remote` hears each event another node wrote."""

    async def start(self, on_remote: Callable[[Event], None]) -> None: ...

    def open(self) -> LocalFeed: ...

    def publish(self, events: Iterable[Event]) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class LocalFeeds:
    """The feed bus of a single process."""

    def __init__(self) -> None:
        self._feeds: set[LocalFeed] = set()

    async def start(self, on_remote: Callable[[Event], None]) -> None:
        return None

    async def ping(self) -> None:
        return None

    def open(self) -> LocalFeed:
        feed = LocalFeed(self)
        self._feeds.add(feed)
        return feed

    def discard(self, feed: LocalFeed) -> None:
        self._feeds.discard(feed)

    def publish(self, events: Iterable[Event]) -> None:
        batch = tuple(events)
        for feed in self._feeds:
            for event in batch:
                feed.put(event)

    async def close(self) -> None:
        for feed in list(self._feeds):
            await feed.aclose()
