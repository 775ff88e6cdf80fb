"""Per-conversation locks: one writer per conversation at a time, in this process.

Stores also refuse stale appends (expected `seq`), so a lock is about fairness and
avoiding wasted work, not the last line of defence; a distributed store adds leases.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

__all__ = ["ConversationLocks", "LocalLocks"]


class ConversationLocks(Protocol):
    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]: ...


class LocalLocks:
    """asyncio locks created on demand and dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(conversation_id, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[conversation_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[conversation_id]
            if users == 1:
                del self._locks[conversation_id]
            else:
                self._locks[conversation_id] = (lock, users - 1)
