"""Redis for a cluster of Tandem nodes: the cross-node event feed (Streams), leases and
the shared hot state of conversations."""

from sessions.redis.feed import RedisFeedBus
from sessions.redis.leases import RedisLeases
from sessions.redis.state_cache import RedisStateCache

__all__ = ["RedisFeedBus", "RedisLeases", "RedisStateCache"]
