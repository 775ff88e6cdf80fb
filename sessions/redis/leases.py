"""Leases in Redis: `SET name node NX PX ttl`, the first claimant wins until it expires."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from redis.exceptions import RedisError

__all__ = ["RedisLeases"]

log = logging.getLogger("tandem.redis.leases")

# Delete only if this node still holds it: a lease that expired and was taken by another
# node in the meantime is theirs.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLeases:
    def __init__(self, url: str, *, prefix: str, node_id: str) -> None:
        self._redis = aioredis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._prefix = f"{prefix}lease:"
        self._node = node_id

    async def claim(self, name: str, ttl_seconds: float) -> bool:
        key, ttl = self._prefix + name, max(int(ttl_seconds * 1000), 1)
        try:
            if await self._redis.set(key, self._node, nx=True, px=ttl):
                return True
            # Held: by this node (claim again, extend), or by another (lost).
            held = await self._redis.get(key)
            if held is not None and (held if isinstance(held, str) else held.decode()) == (
                self._node
            ):
                await self._redis.pexpire(key, ttl)
                return True
            return False
        except (RedisError, OSError) as error:
            # Better twice than never: the guarded work is keyed or checked by the log.
            log.warning("lease %s: Redis unavailable (%s); claiming locally", name, error)
            return True

    async def release(self, name: str) -> None:
        try:
            await self._redis.eval(_RELEASE, 1, self._prefix + name, self._node)
        except (RedisError, OSError) as error:
            log.warning("lease %s not released (Redis: %s); it will expire", name, error)

    async def close(self) -> None:
        await self._redis.aclose()
