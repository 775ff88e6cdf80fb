"""The presence board: every agent's presence as the whole cluster sees it.

Each node writes the agents connected to it; readers (the agents list, the supervisor
view) see everyone, whichever node they asked. Entries expire unless their node keeps
refreshing them, so a node that dies takes its agents' stale presence with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["LocalPresenceBoard", "PresenceBoard", "RedisPresenceBoard"]

log = logging.getLogger("tandem.presence")


class PresenceBoard(Protocol):
    async def publish(
        self, agent_id: str, presence: dict[str, Any], ttl_seconds: float
    ) -> None: ...

    async def remove(self, agent_id: str) -> None: ...

    async def everyone(self) -> dict[str, dict[str, Any]]: ...


class LocalPresenceBoard:
    """A single node's board: what its router knows is all there is."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {}

    async def publish(self, agent_id: str, presence: dict[str, Any], ttl_seconds: float) -> None:
        self._entries[agent_id] = presence

    async def remove(self, agent_id: str) -> None:
        self._entries.pop(agent_id, None)

    async def everyone(self) -> dict[str, dict[str, Any]]:
        return dict(self._entries)


class RedisPresenceBoard:
    """One key per agent, `<prefix>presence:<agent>`, with a TTL its node refreshes."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}presence:"

    async def publish(self, agent_id: str, presence: dict[str, Any], ttl_seconds: float) -> None:
        try:
            await self._redis.set(
                self._prefix + agent_id, json.dumps(presence), px=max(int(ttl_seconds * 1000), 1)
            )
        except (RedisError, OSError) as error:
            log.warning("presence of %s not shared (Redis: %s)", agent_id, error)

    async def remove(self, agent_id: str) -> None:
        try:
            await self._redis.delete(self._prefix + agent_id)
        except (RedisError, OSError) as error:
            log.warning("presence of %s not removed (Redis: %s)", agent_id, error)

    async def everyone(self) -> dict[str, dict[str, Any]]:
        keys = [key async for key in self._redis.scan_iter(match=self._prefix + "*", count=500)]
        if not keys:
            return {}
        values = await self._redis.mget(keys)
        board: dict[str, dict[str, Any]] = {}
        for value in values:
            if value is not None:
                entry = json.loads(value)
                board[str(entry["agent_id"])] = entry
        return board

    async def close(self) -> None:
        await self._redis.aclose()
