"""A bounded, drop-oldest buffer between one producer callback and one async consumer."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

__all__ = ["BufferClosed", "DropOldestBuffer"]

T = TypeVar("T")


class BufferClosed(Exception):
    """The producer closed the buffer and everything in it was consumed."""


class DropOldestBuffer(Generic[T]):
    """Media that is late is worthless: when the consumer falls behind, the oldest item goes.

    Memory never grows past `maxlen` items whatever the consumer does (stock `MediaRelay`
    queues are unbounded: a slow leg takes the whole process down). `get()` is safe to
    cancel: an item is only removed when it is returned, so a consumer may wait under a
    timeout without losing anything.
    """

    def __init__(self, maxlen: int) -> None:
        if maxlen < 1:
            raise ValueError("maxlen must be at least 1")
        self._items: deque[T] = deque(maxlen=maxlen)
        self._waiter: asyncio.Future[None] | None = None
        self._closed = False
        self.dropped = 0
        self.received = 0

    @property
    def maxlen(self) -> int:
        return self._items.maxlen or 0

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T) -> None:
        if self._closed:
            return
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
        self._items.append(item)
        self.received += 1
        self._wake()

    def close(self) -> None:
        self._closed = True
        self._wake()

    def get_nowait(self) -> T | None:
        return self._items.popleft() if self._items else None

    async def get(self) -> T:
        while not self._items:
            if self._closed:
                raise BufferClosed
            waiter = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            try:
                await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = None
        return self._items.popleft()

    def trim(self, keep: int, *, lost: bool = True) -> int:
        """Drop all but the newest `keep` items (a consumer that wants to be live again).

        `lost=False`: the consumer never meant to have them (they came before it started
        reading), so they are not counted in `dropped`.
        """
        dropped = 0
        while len(self._items) > keep:
            self._items.popleft()
            dropped += 1
        if lost:
            self.dropped += dropped
        return dropped

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
