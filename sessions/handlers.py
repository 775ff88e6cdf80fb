"""Handler identifiers: who is serving a conversation, as the log records it."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BOT",
    "DIGITAL_HUMAN",
    "NONE",
    "QUEUE",
    "agent_handler",
    "agent_of",
    "is_automatic",
]

BOT: Final = "bot"
DIGITAL_HUMAN: Final = "digital_human"
QUEUE: Final = "queue"
NONE: Final = "none"
_AGENT_PREFIX: Final = "agent:"


def agent_handler(agent_id: str) -> str:
    return f"{_AGENT_PREFIX}{agent_id}"


def agent_of(handler: str) -> str | None:
    """The agent id if `handler` is a live agent, else None."""
    if handler.startswith(_AGENT_PREFIX):
        return handler[len(_AGENT_PREFIX) :]
    return None


def is_automatic(handler: str) -> bool:
    return handler in (BOT, DIGITAL_HUMAN)
