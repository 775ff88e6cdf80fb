"""Leases: work that must run on exactly one node (a bot's answer to one message)."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Leases", "LocalLeases"]


class Leases(Protocol):
    async def claim(self, name: str, ttl_seconds: float) -> bool:
        """True for exactly one node claiming `name` until `ttl_seconds` pass. The node
        that holds it may claim it again (and so extend it)."""
        ...

    async def release(self, name: str) -> None:
        """Give `name` up early if this node holds it, so another node need not wait for
        it to expire."""
        ...


class LocalLeases:
    """One process is the only claimant there is."""

    async def claim(self, name: str, ttl_seconds: float) -> bool:
        return True

    async def release(self, name: str) -> None:
        return None
