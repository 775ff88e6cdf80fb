"""One thread that runs the most urgent job first (for an engine shared by many streams).

With several people speaking, a plain FIFO executor makes one customer's final wait
behind everyone's partials; here finals (priority 0) overtake partials (priority 1), and
a job cancelled before it starts is never run.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from media.speech.background import lower_thread_priority

__all__ = ["PriorityWorker"]

T = TypeVar("T")

_STOP = float("inf")


class PriorityWorker:
    def __init__(self, name: str, *, nice: int = 0) -> None:
        """`nice`: the thread's lower CPU priority (`background.lower_thread_priority`)."""
        self._jobs: queue.PriorityQueue[tuple[float, int, Any, Any]] = queue.PriorityQueue()
        self._order = itertools.count()  # FIFO among equals
        self._stopped = False
        self._nice = nice
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def submit(self, priority: int, fn: Callable[[], T]) -> Future[T]:
        if self._stopped:
            raise RuntimeError("the worker is stopped")
        future: Future[T] = Future()
        self._jobs.put((priority, next(self._order), future, fn))
        return future

    @property
    def backlog(self) -> int:
        """Jobs waiting (not counting the one running)."""
        return self._jobs.qsize()

    async def run(self, priority: int, fn: Callable[[], T]) -> T:
        """`submit`, awaited; cancelling the await cancels a job that has not started."""
        return await asyncio.wrap_future(self.submit(priority, fn))

    def shutdown(self) -> None:
        """Blocking: queued jobs are cancelled, the running one finishes."""
        if self._stopped:
            return
        self._stopped = True
        self._jobs.put((_STOP, next(self._order), None, None))
        self._thread.join()

    def _work(self) -> None:
        lower_thread_priority(self._nice)
        while True:
            priority, _, future, fn = self._jobs.get()
            if priority == _STOP:
                return
            if self._stopped:
                future.cancel()
                continue
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as error:
                future.set_exception(error)
