"""The hot conversation state, shared by every node through Redis.

A node that meets a conversation for the first time (a customer reconnected to it after
another node died, an agent on another node took the chat) finds its state here instead
of asking PostgreSQL. Writes leave the append's path: the latest state of each
conversation is coalesced and written every half second, in chunks that leave the event
loop free between them, and a write only lands if it is newer than what Redis holds, so
a late write never rolls a state back.

An entry can still be stale (its writer's flush had not landed yet); that costs one
retry, never a wrong write: the append's conditional update refuses a stale
`expected_seq`, and the store then reads PostgreSQL (see `PostgresStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from datetime import datetime
from types import MappingProxyType
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from sessions.redis.resp import RespConnection
from sessions.redis.resp import supports as resp_supports
from sessions.state import ActiveCall, ConversationState

__all__ = ["RedisStateCache", "decode_state", "encode_state"]

log = logging.getLogger("tandem.redis.states")

# KEYS[1]: the entry; ARGV: last_seq, encoded state, ttl ms. Newer or nothing.
_PUT_IF_NEWER = """
local held = redis.call('HGET', KEYS[1], 'seq')
if held and tonumber(held) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'state', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# States per write (see `flush`).
_CHUNK = 32
_WRITE_TIMEOUT_SECONDS = 2.0


def encode_state(state: ConversationState) -> str:
    return json.dumps(
        {
            **state.to_json(),
            "handoff_context": dict(state.handoff_context),
            "read_marks": dict(state.read_marks),
            "call": state.call.to_json() if state.call is not None else None,
        },
        separators=(",", ":"),
    )


def decode_state(raw: str | bytes) -> ConversationState:
    data: dict[str, Any] = json.loads(raw)

    def when(name: str) -> datetime | None:
        value = data.get(name)
        return datetime.fromisoformat(value) if value else None

    return ConversationState(
        id=str(data["id"]),
        customer_id=str(data["customer_id"]),
        status=data["status"],
        handler=str(data["handler"]),
        channels=frozenset(data["channels"]),
        last_seq=int(data["last_seq"]),
        started_at=when("started_at"),
        updated_at=when("updated_at"),
        handoff_context=MappingProxyType(dict(data["handoff_context"])),
        read_marks=MappingProxyType({k: int(v) for k, v in data["read_marks"].items()}),
        call=ActiveCall.from_json(data.get("call")),
    )


class RedisStateCache:
    """`<prefix>state:<conversation>`: a hash of `seq` and the encoded state, with a TTL
    (an idle conversation falls out; PostgreSQL still has it)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        ttl_seconds: float = 3600.0,
        write_delay_seconds: float = 0.5,
    ) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}state:"
        self._ttl_ms = max(int(ttl_seconds * 1000), 1)
        # Writes wait this long to gather: a busy conversation is written once per delay,
        # not once per message (the cache may lag by this much; that costs a retry).
        self._delay = write_delay_seconds
        self._pending: dict[str, ConversationState] = {}
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._script = self._redis.register_script(_PUT_IF_NEWER)
        self._sha = hashlib.sha1(_PUT_IF_NEWER.encode()).hexdigest()
        # Writes go on a plain connection of their own where the URL allows (see `resp`):
        # redis-py's pipeline costs several times the CPU per command.
        self._writes = RespConnection(url, connect_timeout=2) if resp_supports(url) else None

    async def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="redis-state-cache")

    async def get(self, conversation_id: str) -> ConversationState | None:
        try:
            raw = await self._redis.hget(self._prefix + conversation_id, "state")
        except (RedisError, OSError) as error:
            log.debug("state of %s not read from Redis: %s", conversation_id, error)
            return None
        return None if raw is None else decode_state(raw)

    def put(self, state: ConversationState) -> None:
        """Written soon, off the caller's path; only the newest state per conversation."""
        held = self._pending.get(state.id)
        if held is None or held.last_seq < state.last_seq:
            self._pending[state.id] = state
            self._wake.set()

    async def flush(self) -> None:
        """Write what is pending now. What is put meanwhile waits for the next flush: going
        round again at once would write a busy conversation once per round trip instead
        of once per delay (which it did, until that showed in a profile).

        In chunks, each one write and one round trip: encoding a state costs ~20-30 µs, so
        a node with a thousand busy conversations would otherwise hold its event loop (and
        every message and call frame behind it) for ~25 ms at each flush."""
        pending, self._pending = list(self._pending.values()), {}
        for start in range(0, len(pending), _CHUNK):
            encoded: list[tuple[str, int, str]] = []
            for state in pending[start : start + _CHUNK]:
                try:
                    encoded.append((self._prefix + state.id, state.last_seq, encode_state(state)))
                except (TypeError, ValueError):
                    # One state that is not JSON (a value a plug-in put in its context)
                    # is not cached; the others still are, and the writer lives on.
                    log.exception("state of %s not cached: not JSON", state.id)
            try:
                async with asyncio.timeout(_WRITE_TIMEOUT_SECONDS):
                    await self._write(encoded)
            except (RedisError, OSError, TimeoutError) as error:
                # A cache: what is not written is read from PostgreSQL later.
                log.warning("%d states not cached in Redis: %s", len(pending) - start, error)
                return

    async def _write(self, entries: list[tuple[str, int, str]]) -> None:
        if not entries:
            return
        if self._writes is None:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, seq, text in entries:
                    await self._script(keys=[key], args=[seq, text, self._ttl_ms], client=pipe)
                await pipe.execute()
            return

        def evals(sha: str) -> list[tuple[str | int, ...]]:
            return [("EVALSHA", sha, 1, key, seq, text, self._ttl_ms) for key, seq, text in entries]

        replies = await self._writes.pipeline(evals(self._sha))
        if any(isinstance(r, ResponseError) and str(r).startswith("NOSCRIPT") for r in replies):
            # Redis restarted (or flushed its scripts) since the last write.
            sha = await self._writes.command("SCRIPT", "LOAD", _PUT_IF_NEWER)
            self._sha = sha.decode() if isinstance(sha, bytes) else str(sha)
            replies = await self._writes.pipeline(evals(self._sha))
        if refused := [r for r in replies if isinstance(r, ResponseError)]:
            raise refused[0]

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self._delay)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("state cache writer: flush failed; continuing")

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        await self.flush()
        await self._redis.aclose()
        if self._writes is not None:
            self._writes.close()
