"""Leases in Redis: `SET name node NX PX ttl`, the first claimant wins until it expires."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["RedisLeases"]

log = logging.getLogger("tandem.redis.leases")


class RedisLeases:
    def __init__(self, url: str, *, prefix: str, node_id: str) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}lease:"
        self._node = node_id

    async def claim(self, name: str, ttl_seconds: float) -> bool:
        try:
            won = await self._redis.set(
                self._prefix + name, self._node, nx=True, px=max(int(ttl_seconds * 1000), 1)
            )
        except (RedisError, OSError) as error:
            # Better twice than never: the work is idempotent (keyed), a lost answer is not.
            log.warning("lease %s: Redis unavailable (%s); claiming locally", name, error)
            return True
        return bool(won)

    async def close(self) -> None:
        await self._redis.aclose()
