"""Commands: what someone asks a conversation to do. Validated at the edge, ruled on by `decide`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeAlias

__all__ = [
    "AddTranscriptSegment",
    "AnswerCall",
    "AssignAgent",
    "CloseChannel",
    "CloseConversation",
    "Command",
    "EndCall",
    "Escalate",
    "FileTicket",
    "HandBack",
    "HandOver",
    "HoldCall",
    "MarkRead",
    "OpenChannel",
    "RecordTask",
    "ResumeCall",
    "SaveRecording",
    "SendMessage",
    "StartCall",
    "StartConversation",
    "StartRecording",
    "Transfer",
    "UpgradeCall",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _empty() -> Mapping[str, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class StartConversation:
    customer_id: str
    channel: str = "chat"


@dataclass(frozen=True, slots=True)
class SendMessage:
    actor: str
    text: str
    # Extra fields for automatic handlers (kind, intent, suggestions).
    meta: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class Escalate:
    """Ask for a person: the conversation goes to a routing queue with its context."""

    actor: str
    reason: str
    queue: str = "general"
    context: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class AssignAgent:
    """Routing gives a queued conversation to an agent who accepted it."""

    agent_id: str
    actor: str = "system"


@dataclass(frozen=True, slots=True)
class HandBack:
    actor: str
    to: str = "bot"
    note: str | None = None


@dataclass(frozen=True, slots=True)
class HandOver:
    """One automatic handler passes the conversation to another: the text bot to the
    digital human when a call starts, and back when the call ends."""

    actor: str
    to: str
    reason: str


@dataclass(frozen=True, slots=True)
class Transfer:
    actor: str
    to_agent: str | None = None
    to_queue: str | None = None
    note: str | None = None
    context: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class CloseConversation:
    actor: str
    reason: str = "resolved"


@dataclass(frozen=True, slots=True)
class MarkRead:
    actor: str
    up_to_seq: int


@dataclass(frozen=True, slots=True)
class OpenChannel:
    actor: str
    channel: str


@dataclass(frozen=True, slots=True)
class CloseChannel:
    actor: str
    channel: str


@dataclass(frozen=True, slots=True)
class RecordTask:
    """A self-service task the bot carried out (or tried) through the bank's systems."""

    actor: str
    flow: str
    action: str
    ok: bool
    slots: Mapping[str, Any] = field(default_factory=_empty)
    result: Mapping[str, Any] = field(default_factory=_empty)


@dataclass(frozen=True, slots=True)
class FileTicket:
    """The ticket an agent confirmed for this conversation (validated at the edge)."""

    actor: str
    ticket: Mapping[str, Any]


# Calls. The media lives in the gateway (one process holds a call's peer connections);
# these commands are what the log keeps of it, ruled on like any other.


@dataclass(frozen=True, slots=True)
class StartCall:
    """The customer calls from their conversation (`call_id` is chosen by the gateway)."""

    actor: str
    call_id: str
    media: str = "audio"


@dataclass(frozen=True, slots=True)
class AnswerCall:
    """The serving agent takes the call (first answer, after a transfer, or to rejoin)."""

    actor: str
    call_id: str


@dataclass(frozen=True, slots=True)
class HoldCall:
    actor: str
    call_id: str


@dataclass(frozen=True, slots=True)
class ResumeCall:
    actor: str
    call_id: str


@dataclass(frozen=True, slots=True)
class UpgradeCall:
    """A party's renegotiation added video to the call."""

    actor: str
    call_id: str
    media: str = "video"


@dataclass(frozen=True, slots=True)
class EndCall:
    """The call is over; the durations are the media's own account of it."""

    actor: str
    call_id: str
    reason: str
    duration_seconds: float = 0.0
    talk_seconds: float = 0.0
    held_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class StartRecording:
    actor: str
    call_id: str
    consent: bool


@dataclass(frozen=True, slots=True)
class SaveRecording:
    """A finished recording file: where it is (relative to the recordings directory),
    how long, how big, and its SHA-256 so a copy can be checked against the log."""

    actor: str
    call_id: str
    path: str
    duration_seconds: float
    size_bytes: int
    sha256: str


@dataclass(frozen=True, slots=True)
class AddTranscriptSegment:
    """What one party said in a call, as the live transcription heard it (a final segment).

    `speaker` is "customer", "digital_human" or an agent's actor id; `start` and `end`
    are seconds into that party's audio; `utterance` counts that party's utterances.
    """

    actor: str
    call_id: str
    speaker: str
    text: str
    start: float
    end: float
    utterance: int


Command: TypeAlias = (
    StartConversation
    | SendMessage
    | Escalate
    | AssignAgent
    | HandBack
    | HandOver
    | Transfer
    | CloseConversation
    | MarkRead
    | OpenChannel
    | CloseChannel
    | RecordTask
    | FileTicket
    | StartCall
    | AnswerCall
    | HoldCall
    | ResumeCall
    | UpgradeCall
    | EndCall
    | StartRecording
    | SaveRecording
    | AddTranscriptSegment
)
