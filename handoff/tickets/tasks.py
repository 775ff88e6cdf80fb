"""What self-service did in a conversation, from its `task.completed` events.

These are facts from the bank's own systems (the bot froze the card, the transfer is
pending), so they are the most reliable part of a ticket: the resolution is built from
them, and an LLM may reword it but not drop it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from handoff.tickets.slots import card_or_account_of
from sessions.events import Event
from sessions.masking import mask

__all__ = ["task_card", "task_events", "task_line"]

_MAX_DETAILS = 4
_MAX_VALUE = 40


def task_events(history: Sequence[Event]) -> list[Event]:
    return [event for event in history if event.type == "task.completed"]


def task_line(data: Mapping[str, Any]) -> str:
    """One sentence: "Self-service freeze card: done (status frozen)." or "...: failed"."""
    flow = str(data.get("flow") or data.get("action") or "task")
    title = " ".join(flow.replace("_", " ").split()).lower()
    outcome = "done" if data.get("ok") is True else "failed"
    details = _details(data.get("result"))
    return f"Self-service {title}: {outcome}" + (f" ({details})." if details else ".")


def task_card(history: Sequence[Event]) -> str | None:
    """The card or account the last task acted on ("card ending 1234"), if it says."""
    for event in reversed(task_events(history)):
        slots = event.data.get("slots")
        if not isinstance(slots, Mapping):
            continue
        for name, value in slots.items():
            if isinstance(name, str) and isinstance(value, str | Mapping):
                found = card_or_account_of(name, value)
                if found:
                    return found
    return None


def _details(result: object) -> str:
    # Only flat values: nested structures are the core system's business, not the ticket's.
    if isinstance(result, str):
        return mask(_short(result))
    if not isinstance(result, Mapping):
        return ""
    parts = [
        f"{str(key).replace('_', ' ')} {mask(_short(str(value)))}"
        for key, value in result.items()
        if isinstance(value, str | int | float) and not isinstance(value, bool) and value != ""
    ]
    return ", ".join(parts[:_MAX_DETAILS])


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _MAX_VALUE else flat[: _MAX_VALUE - 1].rstrip() + "…"
