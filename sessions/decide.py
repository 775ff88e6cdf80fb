"""The rules: `decide(state, command, now)` returns the events a command causes, or refuses.

Pure: no I/O, no clock (the caller passes `now`). Every handler switch is exactly one
`handler.changed` event, so the log alone says who served the customer at every moment.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sessions.commands import (
    AddTranscriptSegment,
    AnswerCall,
    AssignAgent,
    CloseChannel,
    CloseConversation,
    Command,
    EndCall,
    Escalate,
    FileTicket,
    HandBack,
    HandOver,
    HoldCall,
    MarkRead,
    OpenChannel,
    RecordTask,
    ResumeCall,
    SaveRecording,
    SendMessage,
    StartCall,
    StartConversation,
    StartRecording,
    Transfer,
    UpgradeCall,
)
from sessions.errors import DomainError
from sessions.events import NewEvent
from sessions.handlers import BOT, DIGITAL_HUMAN, NONE, QUEUE, agent_handler, agent_of
from sessions.masking import mask
from sessions.state import ActiveCall, ConversationState

__all__ = ["CALL_MEDIA", "CHANNELS", "decide"]

CHANNELS = frozenset({"chat", "call", "app"})
CALL_MEDIA = frozenset({"audio", "video"})
# A final segment is one utterance; the endpointer cuts monologues at 20 s of speech.
TRANSCRIPT_MAX_CHARS = 2000
_AUTOMATIC_ACTORS = {"bot": BOT, "digital_human": DIGITAL_HUMAN}


def decide(state: ConversationState, command: Command, now: datetime) -> list[NewEvent]:
    if isinstance(command, StartConversation):
        return _start(state, command, now)
    if state.status == "new":
        raise DomainError("not_found", f"no conversation {state.id}")
    if state.status == "closed" and not isinstance(
        command, FileTicket | EndCall | SaveRecording | AddTranscriptSegment
    ):
        # Tickets are written in wrap-up, often after the customer has gone; a call still
        # up when the conversation closed is ended (and its recording saved, its last
        # words transcribed) just after.
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
        case HandOver():
            return _hand_over(state, command, now)
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
        case StartCall():
            return _start_call(state, command, now)
        case AnswerCall():
            return _answer_call(state, command, now)
        case HoldCall():
            return _hold_call(state, command, now)
        case ResumeCall():
            return _resume_call(state, command, now)
        case UpgradeCall():
            return _upgrade_call(state, command, now)
        case EndCall():
            return _end_call(state, command, now)
        case StartRecording():
            return _start_recording(state, command, now)
        case SaveRecording():
            return _save_recording(state, command, now)
        case AddTranscriptSegment():
            return _transcribe(command, now)


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
    elif actor in _AUTOMATIC_ACTORS:
        if state.handler != _AUTOMATIC_ACTORS[actor]:
            # E.g. the digital human's call ended and the text bot took the chat back.
            raise DomainError("invalid_state", f"{actor} no longer serves {state.id}")
    elif not _is_authority(actor):
        # A supervisor may hand a conversation an automatic handler serves to a person.
        raise DomainError("forbidden", f"{actor} may not escalate {state.id}")
    if state.handler == QUEUE:
        raise DomainError("invalid_state", "already waiting for an agent")
    if agent_of(state.handler) is not None:
        raise DomainError("invalid_state", "an agent is already serving this conversation")
    context = {**command.context, **_call_context(state), "queue": command.queue}
    return [_switch(state.handler, QUEUE, "escalation", actor, now, context)]


def _assign(state: ConversationState, command: AssignAgent, now: datetime) -> list[NewEvent]:
    if state.handler != QUEUE:
        raise DomainError("invalid_state", f"conversation {state.id} is not waiting in a queue")
    return [_switch(QUEUE, agent_handler(command.agent_id), "assigned", command.actor, now)]


def _hand_back(state: ConversationState, command: HandBack, now: datetime) -> list[NewEvent]:
    _require_serving_agent(state, command.actor)
    if command.to not in (BOT, DIGITAL_HUMAN):
        raise DomainError("invalid_payload", f"to: cannot hand back to {command.to!r}")
    if command.to == DIGITAL_HUMAN and state.call is None:
        # It speaks on calls only: a chat would be left with nobody answering.
        raise DomainError("invalid_state", "the digital human serves calls: there is none")
    context = {"note": command.note} if command.note else None
    return [
        _switch(state.handler, command.to, "handback", command.actor, now, context),
        *_call_follows(state, command.to, command.actor, now),
    ]


def _hand_over(state: ConversationState, command: HandOver, now: datetime) -> list[NewEvent]:
    if not _is_authority(command.actor):
        raise DomainError("forbidden", f"{command.actor} may not hand {state.id} over")
    if command.to not in (BOT, DIGITAL_HUMAN):
        raise DomainError("invalid_payload", f"to: cannot hand over to {command.to!r}")
    if state.handler not in (BOT, DIGITAL_HUMAN):
        # A person (or the queue) serves: only they hand back.
        raise DomainError("invalid_state", f"no automatic handler serves {state.id}")
    if state.handler == command.to:
        return []
    return [_switch(state.handler, command.to, command.reason, command.actor, now)]


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
    # Whoever is offered the conversation next sees that a call waits for them.
    context.update(_call_context(state))
    return [
        _switch(state.handler, target, "transfer", command.actor, now, context),
        *_call_follows(state, target, command.actor, now),
    ]


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


# ---------------------------------------------------------------------------- calls


def _start_call(state: ConversationState, command: StartCall, now: datetime) -> list[NewEvent]:
    actor = command.actor
    if not actor.startswith("customer:"):
        raise DomainError("forbidden", "only the customer starts a call")
    _require_customer(state, actor)
    if command.media not in CALL_MEDIA:
        raise DomainError("invalid_payload", f"media: must be one of {sorted(CALL_MEDIA)}")
    if not command.call_id:
        raise DomainError("invalid_payload", "call_id: must not be empty")
    if state.call is not None:
        raise DomainError("invalid_state", f"call {state.call.call_id} is already in progress")
    events = []
    if "call" not in state.channels:
        events.append(NewEvent("channel.opened", actor, now, {"channel": "call"}))
    data = {"call_id": command.call_id, "media": command.media, "by": actor}
    events.append(NewEvent("call.started", actor, now, data))
    return events


def _answer_call(state: ConversationState, command: AnswerCall, now: datetime) -> list[NewEvent]:
    # The conversation's agent answers: first time, after a transfer to them, or again
    # after their connection dropped. Who is on the media right now is the gateway's.
    _require_serving_agent(state, command.actor)
    call = _require_call(state, command.call_id)
    data = {"call_id": call.call_id, "agent": _agent_id(command.actor)}
    return [NewEvent("call.answered", command.actor, now, data)]


def _hold_call(state: ConversationState, command: HoldCall, now: datetime) -> list[NewEvent]:
    call = _require_call_agent(state, command.actor, command.call_id)
    if call.status == "held":
        return []
    return [NewEvent("call.held", command.actor, now, {"call_id": call.call_id})]


def _resume_call(state: ConversationState, command: ResumeCall, now: datetime) -> list[NewEvent]:
    call = _require_call_agent(state, command.actor, command.call_id)
    if call.status == "talking":
        return []
    return [NewEvent("call.resumed", command.actor, now, {"call_id": call.call_id})]


def _upgrade_call(state: ConversationState, command: UpgradeCall, now: datetime) -> list[NewEvent]:
    _require_call_party(state, command.actor)
    call = _require_call(state, command.call_id)
    if command.media != "video":
        raise DomainError("invalid_payload", "media: a call can only be upgraded to video")
    if call.media == "video":
        return []
    data = {"call_id": call.call_id, "media": "video"}
    return [NewEvent("call.upgraded", command.actor, now, data)]


def _end_call(state: ConversationState, command: EndCall, now: datetime) -> list[NewEvent]:
    actor = command.actor
    call = state.call
    if actor.startswith("agent:") and call is not None and call.agent == _agent_id(actor):
        pass  # the agent on the call, even if the conversation has moved on to another
    else:
        _require_call_party(state, actor)
    call = _require_call(state, command.call_id)
    seconds = {
        "duration_seconds": command.duration_seconds,
        "talk_seconds": command.talk_seconds,
        "held_seconds": command.held_seconds,
    }
    for name, value in seconds.items():
        if not value >= 0:  # also refuses NaN
            raise DomainError("invalid_payload", f"{name}: must not be negative")
    if not command.reason:
        raise DomainError("invalid_payload", "reason: must not be empty")
    data = {"call_id": call.call_id, "reason": command.reason, **seconds}
    events = [NewEvent("call.ended", actor, now, data)]
    if "call" in state.channels:
        events.append(NewEvent("channel.closed", actor, now, {"channel": "call"}))
    return events


def _start_recording(
    state: ConversationState, command: StartRecording, now: datetime
) -> list[NewEvent]:
    call = _require_call_agent(state, command.actor, command.call_id)
    if command.consent is not True:
        raise DomainError("invalid_payload", "consent: recording needs the customer's consent")
    if call.recording:
        raise DomainError("invalid_state", f"call {call.call_id} is already being recorded")
    data = {"call_id": call.call_id, "consent": True}
    return [NewEvent("recording.started", command.actor, now, data)]


def _save_recording(
    state: ConversationState, command: SaveRecording, now: datetime
) -> list[NewEvent]:
    if command.actor != "system":
        raise DomainError("forbidden", "recordings are saved by the system")
    call = _require_call(state, command.call_id)
    if not call.recording:
        raise DomainError("invalid_state", f"call {call.call_id} is not being recorded")
    if not command.path or command.size_bytes < 0 or not command.duration_seconds >= 0:
        raise DomainError("invalid_payload", "a recording needs a path, a size and a duration")
    if len(command.sha256) != 64 or any(c not in "0123456789abcdef" for c in command.sha256):
        raise DomainError("invalid_payload", "sha256: must be 64 lower-case hex digits")
    data = {
        "call_id": call.call_id,
        "path": command.path,
        "duration_seconds": command.duration_seconds,
        "size_bytes": command.size_bytes,
        "sha256": command.sha256,
    }
    return [NewEvent("recording.saved", command.actor, now, data)]


def _transcribe(command: AddTranscriptSegment, now: datetime) -> list[NewEvent]:
    # Not tied to the call being up: the last words of a call are transcribed about half a
    # second after they were said, often after the hang-up.
    if command.actor != "system":
        raise DomainError("forbidden", "transcripts are written by the system")
    speaker = command.speaker
    if speaker not in ("customer", "digital_human") and agent_of(speaker) is None:
        raise DomainError("invalid_payload", f"speaker: unknown party {speaker!r}")
    text = command.text.strip()
    if not text or len(text) > TRANSCRIPT_MAX_CHARS:
        raise DomainError(
            "invalid_payload", f"text: 1 to {TRANSCRIPT_MAX_CHARS} characters of speech"
        )
    if not 0 <= command.start <= command.end or command.utterance < 0:
        raise DomainError("invalid_payload", "a segment needs 0 <= start <= end")
    data = {
        "call_id": command.call_id,
        "speaker": speaker,
        # Card and ID numbers never reach the log, whoever transcribed them.
        "text": mask(text),
        "start": round(command.start, 3),
        "end": round(command.end, 3),
        "utterance": command.utterance,
    }
    return [NewEvent("transcript.segment", command.actor, now, data)]


def _call_context(state: ConversationState) -> dict[str, Any]:
    call = state.call
    return {"call": {"call_id": call.call_id, "media": call.media}} if call is not None else {}


def _call_follows(
    state: ConversationState, target: str, actor: str, now: datetime
) -> list[NewEvent]:
    """A call goes where its conversation goes: an agent's switch away is logged for it."""
    call = state.call
    if call is None or agent_of(state.handler) is None:
        return []
    data = {"call_id": call.call_id, "from": state.handler, "to": target}
    return [NewEvent("call.transferred", actor, now, data)]


def _require_call(state: ConversationState, call_id: str) -> ActiveCall:
    if state.call is None or state.call.call_id != call_id:
        raise DomainError("not_found", f"no call {call_id} in conversation {state.id}")
    return state.call


def _require_call_agent(state: ConversationState, actor: str, call_id: str) -> ActiveCall:
    """The call, if `actor` serves the conversation and is the agent who answered it."""
    _require_serving_agent(state, actor)
    call = _require_call(state, call_id)
    if call.agent != _agent_id(actor) or call.status == "waiting":
        raise DomainError("invalid_state", f"answer call {call_id} first")
    return call


def _require_call_party(state: ConversationState, actor: str) -> None:
    if actor.startswith("customer:"):
        _require_customer(state, actor)
    elif actor.startswith("agent:"):
        _require_serving_agent(state, actor)
    elif not _is_authority(actor):
        raise DomainError("forbidden", f"{actor} is not on this call")


def _agent_id(actor: str) -> str:
    return actor.removeprefix("agent:")


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
