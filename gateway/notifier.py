"""Routing notifications over socket.io rooms: `agent:<id>` holds every tab of an agent,
`conv:<id>` every connection following a conversation, `supervisors` the supervisors."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import socketio

from gateway.delivery import Delivery
from handoff.ports import Offer, Person
from handoff.presence import AgentPresence

__all__ = ["SocketNotifier", "agent_room", "conversation_room"]

log = logging.getLogger("tandem.notify")


def agent_room(agent_id: str) -> str:
    return f"agent:{agent_id}"


def conversation_room(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


class SocketNotifier:
    def __init__(self, sio: socketio.AsyncServer, delivery: Delivery) -> None:
        self._sio = sio
        self._delivery = delivery

    async def _emit(self, event: str, data: dict[str, Any], room: str, namespace: str) -> None:
        try:
            await self._sio.emit(event, data, to=room, namespace=namespace)
        except Exception:
            # A failed notification must never undo or stall a routing decision.
            log.exception("emit %s to %s%s failed", event, namespace, room)

    async def offer(self, offer: Offer) -> None:
        await self._emit("offer", offer.to_json(), agent_room(offer.agent_id), "/agent")

    async def offer_withdrawn(self, offer: Offer, reason: str) -> None:
        data = {
            "offer_id": offer.offer_id,
            "conversation_id": offer.conversation_id,
            "reason": reason,
        }
        await self._emit("offer.withdrawn", data, agent_room(offer.agent_id), "/agent")

    async def queue_position(self, conversation_id: str, position: int, eta_seconds: int) -> None:
        data = {
            "conversation_id": conversation_id,
            "position": position,
            "estimated_wait_seconds": eta_seconds,
        }
        await self._emit("queue.position", data, conversation_room(conversation_id), "/customer")

    async def presence(self, presence: AgentPresence) -> None:
        data = presence.to_json(datetime.now(UTC))
        await self._emit("presence", data, agent_room(presence.agent_id), "/agent")
        await self._emit("agent.presence", data, "supervisors", "/supervisor")

    async def assigned(
        self, agent_id: str, conversation_id: str, customer: Person, context: Mapping[str, Any]
    ) -> None:
        data = {
            "conversation_id": conversation_id,
            "customer": {"id": customer.id, "name": customer.name},
            "context": dict(context),
        }
        await self._emit("assigned", data, agent_room(agent_id), "/agent")

    async def unassigned(
        self, agent_id: str, conversation_id: str, reason: str, last_seq: int
    ) -> None:
        # The agent's tabs stop following: they see the switch away, nothing after it.
        room = conversation_room(conversation_id)
        for sid, _ in list(self._sio.manager.get_participants("/agent", agent_room(agent_id))):
            await self._delivery.stop_after(sid, conversation_id, last_seq)
            await self._sio.leave_room(sid, room, namespace="/agent")
        data = {"conversation_id": conversation_id, "reason": reason, "last_seq": last_seq}
        await self._emit("unassigned", data, agent_room(agent_id), "/agent")
