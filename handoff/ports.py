"""Outbound ports of the handoff service: who hears about routing, and who the people are."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeAlias

from handoff.presence import AgentPresence

__all__ = ["Offer", "Person", "Role", "RoutingNotifier"]

Role: TypeAlias = Literal["customer", "agent", "supervisor"]


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    role: Role
    name: str
    # The queues an agent serves; empty means every queue.
    skills: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Offer:
    offer_id: str
    conversation_id: str
    agent_id: str
    customer: Person
    context: Mapping[str, Any]
    expires_at: datetime
    timeout_seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "conversation_id": self.conversation_id,
            "customer": {"id": self.customer.id, "name": self.customer.name},
            "context": dict(self.context),
            "expires_at": self.expires_at.isoformat(),
            "timeout_seconds": self.timeout_seconds,
        }


class RoutingNotifier(Protocol):
    """What routing tells people. Implemented at the edge (socket.io); never blocks routing
    for long, and a failure to notify must not undo a routing decision."""

    async def offer(self, offer: Offer) -> None: ...

    async def offer_withdrawn(self, offer: Offer, reason: str) -> None: ...

    async def queue_position(
        self, conversation_id: str, position: int, eta_seconds: int
    ) -> None: ...

    async def presence(self, presence: AgentPresence) -> None: ...

    async def assigned(
        self, agent_id: str, conversation_id: str, customer: Person, context: Mapping[str, Any]
    ) -> None: ...

    async def unassigned(
        self, agent_id: str, conversation_id: str, reason: str, last_seq: int
    ) -> None:
        """The agent no longer serves the conversation; `last_seq` is the last event they
        may see (the switch away from them)."""
        ...
