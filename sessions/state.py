"""Conversation state: a pure fold over the event log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

from sessions.events import Event
from sessions.handlers import NONE, agent_of

__all__ = ["ActiveCall", "CallStatus", "ConversationState", "Status", "apply", "fold"]

Status: TypeAlias = Literal["new", "open", "closed"]
# waiting: nobody has answered (or the agent left: transfer to a queue, hand-back);
# talking: an agent answered; held: that agent put the customer on hold.
CallStatus: TypeAlias = Literal["waiting", "talking", "held"]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class ActiveCall:
    """The conversation's call while it lasts, as its log tells it."""

    call_id: str
    media: str
    status: CallStatus = "waiting"
    # The agent (id) who answered last; after a transfer to another agent, the previous
    # one until the next answers (the customer hears them until then).
    agent: str | None = None
    recording: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "media": self.media,
            "status": self.status,
            "agent": self.agent,
            "recording": self.recording,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> ActiveCall | None:
        """A call as `to_json` wrote it (in a store's snapshot), or None for none."""
        if not raw:
            return None
        agent = raw.get("agent")
        return cls(
            call_id=str(raw["call_id"]),
            media=str(raw["media"]),
            status=raw.get("status", "waiting"),
            agent=str(agent) if agent is not None else None,
            recording=bool(raw.get("recording", False)),
        )


@dataclass(frozen=True, slots=True)
class ConversationState:
    id: str
    customer_id: str = ""
    status: Status = "new"
    handler: str = NONE
    channels: frozenset[str] = frozenset()
    last_seq: int = 0
    started_at: datetime | None = None
    updated_at: datetime | None = None
    # The context handed over at the last switch (intent, summary, transcript...).
    handoff_context: Mapping[str, Any] = field(default_factory=_empty)
    # Highest seq each participant has confirmed reading.
    read_marks: Mapping[str, int] = field(default_factory=_empty)
    # The call in progress, if any (one at a time).
    call: ActiveCall | None = None

    @property
    def call_id(self) -> str | None:
        return self.call.call_id if self.call is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "status": self.status,
            "handler": self.handler,
            "channels": sorted(self.channels),
            "last_seq": self.last_seq,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


def apply(state: ConversationState, event: Event) -> ConversationState:
    """The state after `event`. Events are facts: this never refuses one."""
    if event.seq != state.last_seq + 1:
        raise ValueError(f"event seq {event.seq} does not follow {state.last_seq} in {state.id}")
    s = replace(state, last_seq=event.seq, updated_at=event.at)
    data = event.data
    match event.type:
        case "conversation.started":
            return replace(
                s,
                customer_id=str(data["customer_id"]),
                status="open",
                channels=frozenset({str(data["channel"])}),
                started_at=event.at,
            )
        case "handler.changed":
            context = data.get("context") or {}
            return replace(
                s,
                handler=str(data["to"]),
                handoff_context=MappingProxyType(dict(context)) if context else s.handoff_context,
            )
        case "channel.opened":
            return replace(s, channels=s.channels | {str(data["channel"])})
        case "channel.closed":
            return replace(s, channels=s.channels - {str(data["channel"])})
        case "message.read":
            marks = dict(s.read_marks)
            marks[event.actor] = int(data["up_to_seq"])
            return replace(s, read_marks=MappingProxyType(marks))
        case "conversation.closed":
            # The call, if any, stays until its `call.ended` (which may follow the close).
            return replace(s, status="closed", channels=frozenset())
        case "message.sent" | "task.completed" | "ticket.filed" | "transcript.segment":
            return s
        case "call.started":
            return replace(
                s, call=ActiveCall(call_id=str(data["call_id"]), media=str(data["media"]))
            )
        case (
            "call.answered"
            | "call.held"
            | "call.resumed"
            | "call.upgraded"
            | "call.transferred"
            | "call.ended"
            | "recording.started"
            | "recording.saved"
        ):
            return replace(s, call=_apply_call(s.call, event))


def _apply_call(call: ActiveCall | None, event: Event) -> ActiveCall | None:
    """The call after one of its events; an event about another call changes nothing."""
    data = event.data
    if call is None or data.get("call_id") != call.call_id:
        return call
    match event.type:
        case "call.answered":
            return replace(call, status="talking", agent=str(data["agent"]))
        case "call.held":
            return replace(call, status="held")
        case "call.resumed":
            return replace(call, status="talking")
        case "call.upgraded":
            return replace(call, media=str(data["media"]))
        case "call.transferred":
            if agent_of(str(data["to"])) is not None:
                # Make before break: the previous agent talks on until the next answers.
                return call
            return replace(call, status="waiting", agent=None)
        case "call.ended":
            return None
        case "recording.started":
            return replace(call, recording=True)
        case "recording.saved":
            return replace(call, recording=False)
        case _:
            return call


def fold(conversation_id: str, events: Iterable[Event]) -> ConversationState:
    state = ConversationState(id=conversation_id)
    for event in events:
        state = apply(state, event)
    return state
