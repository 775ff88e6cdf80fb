"""The calls one process serves: created, found and ended by call id, all closed at shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

from media.assets import CallAssets
from media.call import (
    DEFAULT_CONNECT_TIMEOUT,
    Call,
    CallEnded,
    CallError,
    CallEvent,
    CallSummary,
    MediaMode,
)
from media.ice import IceSettings

__all__ = ["Calls"]

logger = logging.getLogger(__name__)


class Calls:
    """The live calls of one gateway process (kept in its app state, not in a global).

    A call leaves the collection when it ends, however it ends (`end()` here or on the
    call, or its customer's connection failing), before `on_ended` is told. `close()`
    ends them all; a closed collection creates no more calls.
    """

    def __init__(
        self,
        *,
        ice: IceSettings,
        assets: CallAssets,
        on_ended: Callable[[CallSummary], None] | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        self._ice = ice
        self._assets = assets
        self._on_ended = on_ended
        self._on_event = on_event
        self._connect_timeout = connect_timeout
        self._calls: dict[str, Call] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._calls)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._calls

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self._calls.values()))

    def create(self, call_id: str, conversation_id: str, *, media: MediaMode = "audio") -> Call:
        if self._closed:
            raise CallEnded("the calls are closed")
        if call_id in self._calls:
            raise CallError(f"call {call_id} already exists")
        call = Call(
            call_id,
            conversation_id,
            media=media,
            ice=self._ice,
            assets=self._assets,
            on_ended=self._ended,
            on_event=self._on_event,
            connect_timeout=self._connect_timeout,
        )
        self._calls[call_id] = call
        return call

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def __getitem__(self, call_id: str) -> Call:
        return self._calls[call_id]

    async def end(self, call_id: str, reason: str = "ended") -> CallSummary | None:
        call = self._calls.get(call_id)
        return None if call is None else await call.end(reason)

    async def close(self, reason: str = "shutdown") -> list[CallSummary]:
        """End every call (at shutdown: an aiohttp cleanup context)."""
        self._closed = True
        calls = list(self._calls.values())
        results = await asyncio.gather(*(c.end(reason) for c in calls), return_exceptions=True)
        summaries: list[CallSummary] = []
        for call, result in zip(calls, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("ending %r failed", call, exc_info=result)
            else:
                summaries.append(result)
        return summaries

    def stats(self) -> dict[str, Any]:
        return {"calls": len(self._calls), "by_id": {c.call_id: c.stats() for c in self}}

    def _ended(self, summary: CallSummary) -> None:
        self._calls.pop(summary.call_id, None)
        if self._on_ended is not None:
            self._on_ended(summary)
