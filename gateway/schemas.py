"""Schemas of client commands: every payload is validated here before it reaches the core.

Unknown fields are refused rather than ignored, so a client typo is an error the
developer sees at once, not a silently dropped option.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

__all__ = [
    "MAX_SDP_BYTES",
    "AgentRequest",
    "CallAnswer",
    "CallMute",
    "CallRecord",
    "CallRef",
    "CallRenegotiate",
    "CallStart",
    "CallTransfer",
    "Close",
    "Empty",
    "Handback",
    "Key",
    "MarkRead",
    "OfferAccept",
    "OfferDecline",
    "PayloadError",
    "PresenceSet",
    "Resume",
    "SendMessage",
    "Start",
    "TakeOver",
    "Transfer",
    "Typing",
    "parse",
]

Key = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ConversationId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(max_length=1000)]


class PayloadError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Command(BaseModel):
    # Strict: "3" is not a seq and 1 is not a boolean; a client bug should be an error.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, values: Any) -> Any:
        # PostgreSQL cannot store U+0000 in text or jsonb: refuse it here, for every
        # store alike, rather than fail at the database.
        if isinstance(values, dict):
            for name, value in values.items():
                if isinstance(value, str) and "\x00" in value:
                    raise ValueError(f"{name}: must not contain NUL characters")
        return values


class Start(_Command):
    key: Key
    channel: Literal["chat", "app"] = "chat"


class SendMessage(_Command):
    key: Key
    conversation_id: ConversationId
    # The length limit is configurable, so it is checked after parsing (message_too_long).
    text: Annotated[str, StringConstraints(min_length=1)]


class AgentRequest(_Command):
    key: Key
    conversation_id: ConversationId
    reason: Note | None = None


class MarkRead(_Command):
    key: Key
    conversation_id: ConversationId
    up_to_seq: int = Field(ge=1, le=2**62)


class Typing(_Command):
    conversation_id: ConversationId
    active: bool


class Resume(_Command):
    conversation_id: ConversationId
    after_seq: int = Field(ge=0, le=2**62)


class PresenceSet(_Command):
    status: Literal["ready", "not_ready"]


class OfferAccept(_Command):
    key: Key
    offer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OfferDecline(_Command):
    offer_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Handback(_Command):
    key: Key
    conversation_id: ConversationId
    note: Note | None = None
    # "digital_human": the call goes back to it (the chat to the text bot when the call
    # ends); "bot": the text bot, or on a call the digital human when this node runs one.
    to: Literal["bot", "digital_human"] = "bot"


class TakeOver(_Command):
    key: Key
    conversation_id: ConversationId
    to_queue: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    note: Note | None = None


class Transfer(_Command):
    key: Key
    conversation_id: ConversationId
    to_agent: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    to_queue: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    note: Note | None = None


class Close(_Command):
    key: Key
    conversation_id: ConversationId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "resolved"


class Empty(_Command):
    pass


class TicketDraft(_Command):
    conversation_id: ConversationId


class TicketFile(_Command):
    key: Key
    conversation_id: ConversationId
    # Checked field by field by `handoff.tickets.Ticket.from_json`, which names each
    # problem; here only its size is bounded.
    ticket: dict[str, Any]

    @model_validator(mode="after")
    def _bounded(self) -> TicketFile:
        if len(json.dumps(self.ticket)) > 20_000:
            raise ValueError("ticket: at most 20,000 characters of JSON")
        return self


class Understand(_Command):
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


# ------------------------------------------------------------------------- calls

# A browser's offer is a few kilobytes (about 10 kB with video and many candidates); a
# bigger one is a mistake or an attack on aiortc's parser.
MAX_SDP_BYTES = 100_000
CallId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
AgentId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


def _check_sdp(sdp: str) -> str:
    if len(sdp.encode()) > MAX_SDP_BYTES:
        raise ValueError(f"at most {MAX_SDP_BYTES} bytes")
    if not sdp.startswith("v=0"):
        raise ValueError("must be an SDP offer (starting with v=0)")
    return sdp


Sdp = Annotated[str, StringConstraints(min_length=1), AfterValidator(_check_sdp)]


class CallStart(_Command):
    key: Key
    conversation_id: ConversationId
    media: Literal["audio", "video"] = "audio"
    sdp: Sdp


class CallAnswer(_Command):
    key: Key
    call_id: CallId
    sdp: Sdp


class CallRenegotiate(_Command):
    call_id: CallId
    sdp: Sdp
    key: Key | None = None


class CallRef(_Command):
    """hold, unhold, hangup: the call, and optionally a key for the log."""

    call_id: CallId
    key: Key | None = None


class CallMute(_Command):
    call_id: CallId
    muted: bool


class CallTransfer(_Command):
    key: Key
    call_id: CallId
    to_agent: AgentId | None = None
    to_queue: AgentId | None = None
    note: Note | None = None

    @model_validator(mode="after")
    def _one_target(self) -> CallTransfer:
        if (self.to_agent is None) == (self.to_queue is None):
            raise ValueError("give exactly one of to_agent and to_queue")
        return self


class CallRecord(_Command):
    key: Key
    call_id: CallId
    consent: bool

    @model_validator(mode="after")
    def _consented(self) -> CallRecord:
        if not self.consent:
            raise ValueError("consent: recording needs the customer's consent (true)")
        return self


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Any) -> M:
    """Validate `payload`, or raise `PayloadError` naming every bad field."""
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise PayloadError("invalid_payload", "payload: must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        problems = []
        for problem in error.errors(include_url=False):
            where = ".".join(str(p) for p in problem["loc"])
            message = problem["msg"].removeprefix("Value error, ")
            if problem["type"] == "extra_forbidden":
                message = "unknown field"
            problems.append(f"{where}: {message}" if where else message)
        raise PayloadError("invalid_payload", "; ".join(problems)) from None
