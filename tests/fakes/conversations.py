"""Hand-built conversation logs for ticket tests: one call per event, seqs counted for you."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sessions.events import Event, EventType

__all__ = ["Log"]

_START = datetime(2024, 5, 2, 9, 30, tzinfo=UTC)


@dataclass
class Log:
    """A conversation log under construction; `events` is the history, oldest first."""

    conversation_id: str = "conv-1"
    customer: str = "customer:c-42"
    events: list[Event] = field(default_factory=list)

    def add(self, type: EventType, actor: str, data: Mapping[str, Any]) -> int:
        seq = len(self.events) + 1
        at = _START + timedelta(seconds=10 * seq)
        self.events.append(Event(self.conversation_id, seq, type, at, actor, dict(data)))
        return seq

    def started(self) -> int:
        return self.add("conversation.started", self.customer, {"channel": "chat"})

    def customer_says(self, text: str) -> int:
        return self.add("message.sent", self.customer, {"text": text})

    def bot_says(self, text: str, *, kind: str = "answer", intent: str | None = None) -> int:
        data = {"text": text, "kind": kind, "intent": intent, "suggestions": []}
        return self.add("message.sent", "bot", data)

    def agent_says(self, text: str, agent: str = "a-1") -> int:
        return self.add("message.sent", f"agent:{agent}", {"text": text})

    def handover(
        self,
        to: str,
        *,
        reason: str = "customer_request",
        summary: str | None = None,
        intent: str | None = None,
    ) -> int:
        context: dict[str, Any] = {"reason": reason, "intent": intent, "transcript": []}
        if summary is not None:
            context["summary"] = summary
        data = {"from": "bot", "to": to, "reason": reason, "context": context}
        return self.add("handler.changed", "system", data)

    def task(
        self,
        flow: str,
        *,
        ok: bool = True,
        slots: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
    ) -> int:
        data = {
            "flow": flow,
            "action": flow,
            "ok": ok,
            "slots": dict(slots or {}),
            "result": dict(result or {}),
        }
        return self.add("task.completed", "bot", data)
