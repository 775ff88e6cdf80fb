"""Agent presence: what an agent chose (ready / not ready), what they carry, and what follows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, TypeAlias

__all__ = ["AgentPresence", "ChosenStatus", "EffectiveStatus"]

ChosenStatus: TypeAlias = Literal["ready", "not_ready"]
EffectiveStatus: TypeAlias = Literal["ready", "not_ready", "busy", "wrap_up", "offline"]


@dataclass(frozen=True, slots=True)
class AgentPresence:
    agent_id: str
    name: str
    capacity: int
    chosen: ChosenStatus = "not_ready"
    connections: int = 0
    conversations: frozenset[str] = field(default_factory=frozenset)
    wrap_up_until: datetime | None = None
    # When the agent last got a conversation: routing prefers whoever waited longest.
    last_assigned_at: datetime | None = None
    # The queues this agent serves; empty means every queue.
    skills: frozenset[str] = frozenset()
    # Conversations in which the agent is on a call, and how many slots of `capacity`
    # such a conversation takes (a voice call usually takes the agent whole).
    calls: frozenset[str] = frozenset()
    call_weight: int = 1

    def status(self, now: datetime) -> EffectiveStatus:
        if self.connections == 0:
            return "offline"
        if self.chosen == "not_ready":
            return "not_ready"
        if self.wrap_up_until is not None and now < self.wrap_up_until:
            return "wrap_up"
        if self.load >= self.capacity:
            return "busy"
        return "ready"

    def can_take(self, now: datetime) -> bool:
        return self.status(now) == "ready"

    def serves(self, queue: str) -> bool:
        return not self.skills or queue in self.skills

    @property
    def load(self) -> int:
        """Slots taken: one per conversation, `call_weight` for one with a call on."""
        on_call = len(self.calls & self.conversations)
        return len(self.conversations) + (self.call_weight - 1) * on_call

    def with_call(self, conversation_id: str, on_call: bool) -> AgentPresence:
        calls = self.calls | {conversation_id} if on_call else self.calls - {conversation_id}
        return replace(self, calls=calls)

    def with_conversation(self, conversation_id: str, now: datetime) -> AgentPresence:
        return replace(
            self, conversations=self.conversations | {conversation_id}, last_assigned_at=now
        )

    def without_conversation(
        self, conversation_id: str, wrap_up_until: datetime | None
    ) -> AgentPresence:
        if conversation_id not in self.conversations:
            return self
        return replace(
            self,
            conversations=self.conversations - {conversation_id},
            calls=self.calls - {conversation_id},
            wrap_up_until=wrap_up_until,
        )

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "status": self.status(now),
            "load": self.load,
            "capacity": self.capacity,
            "conversations": sorted(self.conversations),
            "skills": sorted(self.skills),
        }
