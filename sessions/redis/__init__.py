"""Redis for a cluster of Tandem nodes: the cross-node event feed (Streams)."""

from sessions.redis.feed import RedisFeedBus
from sessions.redis.leases import RedisLeases

__all__ = ["RedisFeedBus", "RedisLeases"]
