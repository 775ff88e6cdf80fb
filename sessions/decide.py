"""The rules: `decide(state, command, now)` returns the events a command causes, or refuses.

Pure: no I/O, no clock (the caller passes `now`). Every handler switch is exactly one
`handler.changed` event, so the log alone says who served the customer at every moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sessions.commands import (
    AssignAgent,
    CloseChannel,
    CloseConversation,
    Command,
    Escalate,
    FileTicket,
    HandBack,
    MarkRead,
    OpenChannel,
    RecordTask,
    SendMessage,
    StartConversation,
    Transfer,
)
from sessions.errors import DomainError
from sessions.events import NewEvent
from sessions.handlers import BOT, DIGITAL_HUMAN, NONE, QUEUE, agent_handler, agent_of
from sessions.state import ConversationState

__all__ = ["CHANNELS", "decide"]

CHANNELS = frozenset({"chat", "call", "app"})
_AUTOMATIC_ACTORS = {"bot": BOT, "digital_human": DIGITAL_HUMAN}


def decide(state: ConversationState, command: Command, now: datetime) -> list[NewEvent]:
    if isinstance(command, StartConversation):
        return _start(state, command, now)
    if state.status == "new":
        raise DomainError("not_found", f"no conversation {state.id}")
    if state.status == "closed" and not isinstance(command, FileTicket):
        # Tickets are written in wrap-up, often after the customer has gone.
        raise DomainError("conversation_closed", f"conversation {state.id} is closed")
    match command:
        case SendMessage():
            return _send(state, command, now)
        case Escalate():
            return _escalate(state, command, now)
        case AssignAgent():
            return _assign(state, command, now)
        case HandBack():
            return _hand_back(state, command, now)
        case Transfer():
            return _transfer(state, command, now)
        case CloseConversation():
            return _close(state, command, now)
        case MarkRead():
            return _mark_read(state, command, now)
        case OpenChannel():
            return _open_channel(state, command, now)
        case CloseChannel():
            return _close_channel(state, command, now)
        case RecordTask():
            return _record_task(state, command, now)
        case FileTicket():
            return _file_ticket(state, command, now)


def _start(state: ConversationState, command: StartConversation, now: datetime) -> list[NewEvent]:
    if state.status != "new":
        raise DomainError("invalid_state", f"conversation {state.id} already exists")
    _check_channel(command.channel)
    actor = f"customer:{command.customer_id}"
    return [
        NewEvent(
            "conversation.started",
            actor,
            now,
            {"customer_id": command.customer_id, "channel": command.channel},
        ),
        _switch(state.handler, BOT, "start", "system", now),
    ]


def _send(state: ConversationState, command: SendMessage, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if actor.startswith("customer:"):
        _require_customer(state, actor)
    elif actor.startswith("agent:"):
        if state.handler != actor:
            raise DomainError("forbidden", f"conversation {state.id} is not assigned to you")
    elif actor in _AUTOMATIC_ACTORS:
        if state.handler != _AUTOMATIC_ACTORS[actor]:
            # The bot lost the conversation while it was thinking: its words are stale.
            raise DomainError("invalid_state", f"{actor} no longer serves {state.id}")
    elif actor != "system":
        raise DomainError("forbidden", f"{actor} may not write to {state.id}")
    text = command.text.strip()
    if not text:
        raise DomainError("invalid_payload", "text: must not be empty")
    data: dict[str, Any] = {"text": text}
    data.update(command.meta)
    return [NewEvent("message.sent", actor, now, data)]


def _escalate(state: ConversationState, command: Escalate, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if actor.startswith("customer:"):
        _require_customer(state, actor)
    elif actor not in _AUTOMATIC_ACTORS and actor != "system":
        raise DomainError("forbidden", f"{actor} may not escalate {state.id}")
    if state.handler == QUEUE:
        raise DomainError("invalid_state", "already waiting for an agent")
    if agent_of(state.handler) is not None:
        raise DomainError("invalid_state", "an agent is already serving this conversation")
    context = {**command.context, "queue": command.queue}
    return [_switch(state.handler, QUEUE, "escalation", actor, now, context)]


def _assign(state: ConversationState, command: AssignAgent, now: datetime) -> list[NewEvent]:
    if state.handler != QUEUE:
        raise DomainError("invalid_state", f"conversation {state.id} is not waiting in a queue")
    return [_switch(QUEUE, agent_handler(command.agent_id), "assigned", command.actor, now)]


def _hand_back(state: ConversationState, command: HandBack, now: datetime) -> list[NewEvent]:
    _require_serving_agent(state, command.actor)
    if command.to not in (BOT, DIGITAL_HUMAN):
        raise DomainError("invalid_payload", f"to: cannot hand back to {command.to!r}")
    context = {"note": command.note} if command.note else None
    return [_switch(state.handler, command.to, "handback", command.actor, now, context)]


def _transfer(state: ConversationState, command: Transfer, now: datetime) -> list[NewEvent]:
    if _is_authority(command.actor):
        # Supervisors and the system (e.g. an agent whose connection was lost) may move
        # a conversation an agent is serving.
        if agent_of(state.handler) is None:
            raise DomainError("invalid_state", f"no agent is serving {state.id}")
    else:
        _require_serving_agent(state, command.actor)
    if (command.to_agent is None) == (command.to_queue is None):
        raise DomainError("invalid_payload", "give exactly one of to_agent and to_queue")
    context: dict[str, Any] = dict(command.context)
    if command.note:
        context["note"] = command.note
    if command.to_agent is not None:
        target = agent_handler(command.to_agent)
        if target == state.handler:
            raise DomainError("invalid_state", "cannot transfer a conversation to yourself")
    else:
        target = QUEUE
        context["queue"] = command.to_queue
    return [_switch(state.handler, target, "transfer", command.actor, now, context)]


def _close(state: ConversationState, command: CloseConversation, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if actor.startswith("customer:"):
        _require_customer(state, actor)
    elif actor.startswith("agent:"):
        _require_serving_agent(state, actor)
    elif not _is_authority(actor):
        raise DomainError("forbidden", f"{actor} may not close {state.id}")
    return [
        _switch(state.handler, NONE, "close", actor, now),
        NewEvent("conversation.closed", actor, now, {"reason": command.reason}),
    ]


def _mark_read(state: ConversationState, command: MarkRead, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if actor.startswith("customer:"):
        _require_customer(state, actor)
    elif actor.startswith("agent:"):
        _require_serving_agent(state, actor)
    else:
        raise DomainError("forbidden", f"{actor} has no read receipts")
    if command.up_to_seq < 1 or command.up_to_seq > state.last_seq:
        raise DomainError("invalid_payload", f"up_to_seq: must be between 1 and {state.last_seq}")
    if command.up_to_seq <= state.read_marks.get(actor, 0):
        return []  # Already read that far: a receipt never moves backwards.
    return [NewEvent("message.read", actor, now, {"up_to_seq": command.up_to_seq})]


def _open_channel(state: ConversationState, command: OpenChannel, now: datetime) -> list[NewEvent]:
    _check_channel(command.channel)
    if command.channel in state.channels:
        return []
    return [NewEvent("channel.opened", command.actor, now, {"channel": command.channel})]


def _close_channel(
    state: ConversationState, command: CloseChannel, now: datetime
) -> list[NewEvent]:
    if command.channel not in state.channels:
        return []
    return [NewEvent("channel.closed", command.actor, now, {"channel": command.channel})]


def _record_task(state: ConversationState, command: RecordTask, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if actor not in _AUTOMATIC_ACTORS or state.handler != _AUTOMATIC_ACTORS[actor]:
        # Only the automatic handler serving the conversation acts on the customer's behalf.
        raise DomainError("forbidden", f"{actor} does not serve {state.id}")
    data = {
        "flow": command.flow,
        "action": command.action,
        "ok": command.ok,
        "slots": dict(command.slots),
        "result": dict(command.result),
    }
    return [NewEvent("task.completed", actor, now, data)]


def _file_ticket(state: ConversationState, command: FileTicket, now: datetime) -> list[NewEvent]:
    actor = command.actor
    # The agent serving it files the ticket; after a close or hand-back, the last agent
    # who served it still may (wrap-up is when tickets get written).
    if not (actor.startswith("agent:") or _is_authority(actor)):
        raise DomainError("forbidden", f"{actor} may not file tickets")
    return [NewEvent("ticket.filed", actor, now, {"ticket": dict(command.ticket)})]


def _switch(
    old: str,
    new: str,
    reason: str,
    actor: str,
    now: datetime,
    context: Mapping[str, Any] | None = None,
) -> NewEvent:
    data: dict[str, Any] = {"from": old, "to": new, "reason": reason}
    if context:
        data["context"] = dict(context)
    return NewEvent("handler.changed", actor, now, data)


def _is_authority(actor: str) -> bool:
    return actor == "system" or actor.startswith("supervisor:")


def _require_customer(state: ConversationState, actor: str) -> None:
    if actor != f"customer:{state.customer_id}":
        # Same answer as a missing conversation: ids are not confirmed to outsiders.
        raise DomainError("not_found", f"no conversation {state.id}")


def _require_serving_agent(state: ConversationState, actor: str) -> None:
    if not actor.startswith("agent:") or state.handler != actor:
        raise DomainError("forbidden", f"conversation {state.id} is not assigned to you")


def _check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise DomainError("invalid_payload", f"channel: must be one of {sorted(CHANNELS)}")
