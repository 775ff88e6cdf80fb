"""What the bot needs to know about a conversation, read from its log alone.

The bot keeps no per-conversation state: any node can serve any conversation, so
everything it remembers (how often it failed, what it offered, what it answered) is
derived from the events here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sessions.events import Event
from sessions.handlers import is_automatic

__all__ = [
    "MISS_KINDS",
    "answered_intents",
    "consecutive_misses",
    "offered_suggestions",
    "transcript",
]

# Bot message kinds that mean "I did not understand".
MISS_KINDS: frozenset[str] = frozenset({"clarify", "fallback"})


def consecutive_misses(history: Sequence[Event]) -> int:
    """How many clarify/fallback replies the bot sent in a row, most recent first.

    The streak ends at any other bot message (an answer, a greeting) and at a change of
    handler: after an agent has been involved the bot starts afresh.
    """
    misses = 0
    for event in reversed(history):
        if event.type == "handler.changed":
            break
        if not _is_bot_message(event):
            continue
        if event.data.get("kind") not in MISS_KINDS:
            break
        misses += 1
    return misses


def offered_suggestions(history: Sequence[Event]) -> tuple[str, ...]:
    """Every suggestion the bot has offered since it last took the conversation."""
    offered: list[str] = []
    for event in _since_last_handover(history):
        if _is_bot_message(event):
            suggestions = event.data.get("suggestions") or ()
            offered.extend(s for s in suggestions if isinstance(s, str))
    return tuple(dict.fromkeys(offered))


def answered_intents(history: Sequence[Event]) -> tuple[str, ...]:
    """Intents the bot answered in this conversation, oldest first, without repeats."""
    intents = (
        event.data.get("intent")
        for event in history
        if _is_bot_message(event) and event.data.get("kind") == "answer"
    )
    return tuple(dict.fromkeys(i for i in intents if isinstance(i, str) and i))


def transcript(history: Sequence[Event], limit: int = 20) -> tuple[tuple[str, str], ...]:
    """The last `limit` messages as (actor, text), for the agent who takes over."""
    lines = [
        (event.actor, text)
        for event in history
        if event.type == "message.sent" and isinstance(text := event.data.get("text"), str)
    ]
    return tuple(lines[-limit:]) if limit > 0 else ()


def _is_bot_message(event: Event) -> bool:
    return event.type == "message.sent" and is_automatic(event.actor)


def _since_last_handover(history: Sequence[Event]) -> Iterator[Event]:
    start = 0
    for position in range(len(history) - 1, -1, -1):
        if history[position].type == "handler.changed":
            start = position + 1
            break
    return iter(history[start:])
