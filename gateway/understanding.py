"""The language understanding a node runs: loaded in the background at start.

The first start on a machine trains the intent model (tens of seconds on two cores) and
caches it; later starts load it in about a second. Either way the server listens at
once: until the model is ready the bot answers from its knowledge search, and
`POST /api/v1/understand` answers 503 `warming_up`.

Each text is understood on a thread of its own, not on the event loop: a text the n-gram
model is unsure of goes through the sentence encoder (~4-6 ms, p99 under 10), and a loop
that forwards calls' media every 20 ms must not stop for it. The encoder releases the
GIL while it runs. One thread: the model is not shared between threads, and one core's
worth of understanding is about 500 texts a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from handoff.understanding import Understanding, Understood
from sessions.errors import DomainError

__all__ = ["UnderstandingRuntime"]

log = logging.getLogger("tandem.understanding")

# Slot extraction grows with the text (about 7 ms for 400 characters, 90 ms for 4,000
# full of numbers): what a customer asks is in its beginning.
_MAX_CHARS = 1000


class UnderstandingRuntime:
    """An `Understander` whose model arrives later."""

    def __init__(self, *, enabled: bool, cache_dir: Path | None) -> None:
        self._enabled = enabled
        self._cache_dir = cache_dir
        self._model: Understanding | None = None
        self._loading: asyncio.Task[None] | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="tandem-understanding")

    @property
    def ready(self) -> bool:
        return self._model is not None

    def start(self) -> None:
        if self._enabled and self._loading is None:
            self._loading = asyncio.create_task(self._load(), name="understanding-load")

    async def wait_ready(self) -> bool:
        if self._loading is not None:
            await asyncio.shield(self._loading)
        return self.ready

    async def _load(self) -> None:
        began = time.monotonic()
        log.info(
            "understanding: loading the intent model (the first start on a machine trains "
            "it, which takes a while; the bot uses its knowledge search meanwhile)"
        )
        try:
            self._model = await asyncio.to_thread(Understanding.load, self._cache_dir)
        except Exception:
            log.exception("understanding: the intent model could not be loaded; intents are off")
            return
        log.info("understanding: ready in %.1f s", time.monotonic() - began)
        if not self._model.refines:
            log.warning(
                "understanding: the sentence encoder is off (%s): intents come from the "
                "n-gram model alone, about 2 points less accurate",
                self._model.refiner_off,
            )

    async def understand(self, text: str) -> Understood:
        model = self._model
        if model is None:
            if not self._enabled:
                raise DomainError("not_found", "language understanding is off on this server")
            raise DomainError("warming_up", "the language model is still loading, try again")
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, model.understand, text[:_MAX_CHARS]
        )

    async def close(self) -> None:
        if self._loading is not None and not self._loading.done():
            # The thread cannot be interrupted; the process is stopping, so do not wait.
            self._loading.cancel()
        # A text being understood takes milliseconds; those still queued are dropped.
        self._thread.shutdown(wait=False, cancel_futures=True)
