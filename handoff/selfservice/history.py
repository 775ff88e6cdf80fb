"""The flow a conversation is in, read back from its log.

A flow's state is stored with the bot message that asked its last question (the
message's `data["flow"]`, `FlowState.to_json()`), so only the bot's latest message
counts: once the bot has said anything else, or the conversation changed hands, there
is no flow to resume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from handoff.selfservice.model import FlowState
from sessions.events import Event
from sessions.handlers import is_automatic

__all__ = ["flow_state_from_history"]


def flow_state_from_history(history: Sequence[Event]) -> FlowState | None:
    """The state of the flow awaiting the customer's answer, if any.

    A state that does not parse (written by another version) is treated as none: the
    customer's message is then handled afresh rather than failing.
    """
    for event in reversed(history):
        if event.type == "handler.changed":
            return None
        if event.type != "message.sent" or not is_automatic(event.actor):
            continue
        raw = event.data.get("flow")
        if not isinstance(raw, Mapping):
            return None
        try:
            return FlowState.from_json(raw)
        except ValueError:
            return None
    return None
