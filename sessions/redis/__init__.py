"""Redis for a cluster of Tandem nodes: the cross-node event feed (Streams)."""

from sessions.redis.feed import RedisFeedBus

__all__ = ["RedisFeedBus"]
