"""Delivery: each connection gets every event of the conversations it follows exactly
once, in order, whether the event was live or missed while it was away.

A connection keeps a cursor per conversation (the last seq it was sent). Live events at
cursor+1 go straight out; anything older is dropped; a jump ahead is filled from the
store first. `resume(after_seq)` just moves the cursor and catches up, so a reconnect,
a live event racing the catch-up, and a replayed feed all come out the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sessions.events import Event
from sessions.store import SessionStore

__all__ = ["Delivery", "Emit"]

log = logging.getLogger("tandem.delivery")

# emit(event_name, payload, sid, namespace)
Emit = Callable[[str, dict[str, Any], str, str], Awaitable[None]]

_CATCH_UP_PAGE = 500


@dataclass
class _Cursor:
    sid: str
    namespace: str
    seq: int = 0
    # Set when the follower loses access (an agent handed the conversation on): events
    # up to here are still theirs, later ones are not.
    stop_after: int | None = None
    # Seqs this connection already has from its own command's ack: not sent back.
    own: set[int] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class Delivery:
    def __init__(self, store: SessionStore, emit: Emit) -> None:
        self._store = store
        self._emit = emit
        self._cursors: dict[str, dict[str, _Cursor]] = {}
        self._followed: dict[str, set[str]] = {}

    def followers(self, conversation_id: str) -> int:
        return len(self._cursors.get(conversation_id, {}))

    async def follow(self, sid: str, namespace: str, conversation_id: str, after_seq: int) -> int:
        """Send `sid` every event after `after_seq`, then keep it following; the new cursor."""
        cursors = self._cursors.setdefault(conversation_id, {})
        cursor = cursors.get(sid)
        if cursor is None:
            cursor = cursors[sid] = _Cursor(sid, namespace)
            self._followed.setdefault(sid, set()).add(conversation_id)
        async with cursor.lock:
            # The client's word is the truth about what it has: it may have lost a page.
            cursor.seq = after_seq
            cursor.stop_after = None
            cursor.own.clear()
            await self._catch_up(conversation_id, cursor, until=None)
            return cursor.seq

    def forget(self, sid: str) -> None:
        for conversation_id in self._followed.pop(sid, ()):
            cursors = self._cursors.get(conversation_id)
            if cursors is not None:
                cursors.pop(sid, None)
                if not cursors:
                    del self._cursors[conversation_id]

    def unfollow(self, sid: str, conversation_id: str) -> None:
        if (cursors := self._cursors.get(conversation_id)) is not None:
            cursors.pop(sid, None)
            if not cursors:
                del self._cursors[conversation_id]
        if (followed := self._followed.get(sid)) is not None:
            followed.discard(conversation_id)

    def acked(self, sid: str, conversation_id: str, seq: int) -> None:
        """`sid` learnt event `seq` from its command's ack: do not echo it back.

        Synchronous on purpose: called right after the append, before the feed can deliver
        the event, so the skip is in place in time. Should the feed win a race (a remote
        store), the connection gets the event once more, which a client drops by `seq`.
        """
        cursor = self._cursors.get(conversation_id, {}).get(sid)
        if cursor is not None and seq > cursor.seq:
            cursor.own.add(seq)

    async def stop_after(self, sid: str, conversation_id: str, seq: int) -> None:
        """Deliver `sid` events up to `seq` (inclusive) and nothing after."""
        cursor = self._cursors.get(conversation_id, {}).get(sid)
        if cursor is None:
            return
        async with cursor.lock:
            cursor.stop_after = seq
            await self._catch_up(conversation_id, cursor, until=seq)
            self.unfollow(sid, conversation_id)

    async def publish(self, event: Event) -> None:
        """Hand a newly appended event to every local follower of its conversation."""
        cursors = self._cursors.get(event.conversation_id)
        if not cursors:
            return
        payload = event.to_json()
        for cursor in list(cursors.values()):
            async with cursor.lock:
                if event.seq <= cursor.seq or (
                    cursor.stop_after is not None and event.seq > cursor.stop_after
                ):
                    continue
                if event.seq > cursor.seq + 1:
                    await self._catch_up(event.conversation_id, cursor, until=event.seq - 1)
                if event.seq == cursor.seq + 1:
                    await self._send(cursor, payload, event.seq)

    async def _catch_up(self, conversation_id: str, cursor: _Cursor, until: int | None) -> None:
        while until is None or cursor.seq < until:
            limit = _CATCH_UP_PAGE if until is None else min(_CATCH_UP_PAGE, until - cursor.seq)
            page = await self._store.read(conversation_id, cursor.seq, limit)
            for event in page:
                await self._send(cursor, event.to_json(), event.seq)
            if len(page) < limit:
                return

    async def _send(self, cursor: _Cursor, payload: dict[str, Any], seq: int) -> None:
        if seq in cursor.own:
            cursor.own.discard(seq)
        else:
            await self._emit("event", payload, cursor.sid, cursor.namespace)
        cursor.seq = seq
