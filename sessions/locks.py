"""Per-conversation locks: one writer per conversation at a time, in this process.

Stores also refuse stale appends (expected `seq`), so a lock is about fairness and
avoiding wasted work, not the last line of defence; a distributed store adds leases.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Protocol

__all__ = ["ConversationLocks", "LocalLocks"]


class ConversationLocks(Protocol):
    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]: ...


class LocalLocks:
    """asyncio locks created on demand and dropped when nobody holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[str, _Held] = {}

    def __len__(self) -> int:
        return len(self._locks)

    def hold(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        held = self._locks.get(conversation_id)
        if held is None:
            held = self._locks[conversation_id] = _Held(self._locks, conversation_id)
        return held


class _Held:
    """The lock of one conversation and how many tasks hold or wait for it. A plain class
    rather than @asynccontextmanager: this is on every command's path."""

    __slots__ = ("_key", "_lock", "_owner", "_users")

    def __init__(self, owner: dict[str, _Held], key: str) -> None:
        self._owner = owner
        self._key = key
        self._lock = asyncio.Lock()
        self._users = 0

    async def __aenter__(self) -> None:
        self._users += 1
        try:
            await self._lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self._lock.release()
        self._leave()

    def _leave(self) -> None:
        self._users -= 1
        if self._users == 0:
            del self._owner[self._key]
