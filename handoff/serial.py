"""Run work for one key at a time, in order, while different keys run concurrently."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

__all__ = ["KeyedSerialRunner"]

log = logging.getLogger("tandem.serial")


class KeyedSerialRunner:
    """A worker task per busy key drains that key's jobs in submission order and exits
    when it runs dry, so idle conversations cost nothing."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pending: dict[str, deque[Callable[[], Awaitable[None]]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    def submit(self, key: str, job: Callable[[], Awaitable[None]]) -> None:
        self._pending.setdefault(key, deque()).append(job)
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"{self._name}:{key}")

    async def _drain(self, key: str) -> None:
        jobs = self._pending[key]
        try:
            while jobs:
                job = jobs.popleft()
                try:
                    await job()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: job for %s failed", self._name, key)
        finally:
            self._workers.pop(key, None)
            if not jobs:
                self._pending.pop(key, None)

    async def join(self) -> None:
        """Wait until every submitted job has run (used at shutdown and in tests)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._workers.values()):
            task.cancel()
        await asyncio.gather(*list(self._workers.values()), return_exceptions=True)
        self._workers.clear()
        self._pending.clear()
