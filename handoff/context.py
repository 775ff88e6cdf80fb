"""What a person taking over needs to know, derived from the log so nobody asks twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sessions.events import Event
from sessions.handlers import is_automatic

__all__ = ["handoff_context", "last_intent", "transcript"]

_TRANSCRIPT_MESSAGES = 20
_QUOTE_CHARS = 160


def transcript(history: Sequence[Event], limit: int = _TRANSCRIPT_MESSAGES) -> list[dict[str, str]]:
    messages = [e for e in history if e.type == "message.sent"]
    return [{"actor": e.actor, "text": str(e.data.get("text", ""))} for e in messages[-limit:]]


def last_intent(history: Sequence[Event]) -> str | None:
    for event in reversed(history):
        if event.type == "message.sent" and is_automatic(event.actor) and event.data.get("intent"):
            return str(event.data["intent"])
    return None


_REASONS = {
    "customer_request": "Customer asked for a person.",
    "transfer": "Transferred by the previous agent.",
    "agent_lost": "The previous agent lost their connection.",
    "supervisor": "A supervisor handed it to a person.",
}


def handoff_context(
    history: Sequence[Event],
    reason: str,
    note: str | None = None,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Intent, a short summary and the transcript for whoever takes over next.

    `previous` is the context handed over last time: its intent survives a transfer, so
    the third person to serve a customer still knows what the bot understood first.
    """
    intent = last_intent(history) or (previous or {}).get("intent")
    customer_texts = [
        str(e.data.get("text", ""))
        for e in history
        if e.type == "message.sent" and e.actor.startswith("customer:")
    ]
    topics = [
        str(e.data.get("intent"))
        for e in history
        if e.type == "message.sent" and is_automatic(e.actor) and e.data.get("kind") == "answer"
    ]
    parts = []
    if topics:
        parts.append("Bot answered: " + ", ".join(dict.fromkeys(topics)) + ".")
    if customer_texts:
        quote = customer_texts[-1]
        if len(quote) > _QUOTE_CHARS:
            quote = quote[: _QUOTE_CHARS - 1] + "…"
        parts.append(f"Last customer message: “{quote}”.")
    parts.append(_REASONS.get(reason, reason))
    context: dict[str, Any] = {
        "reason": reason,
        "intent": intent,
        "summary": " ".join(parts),
        "transcript": transcript(history),
    }
    if note:
        context["note"] = note
    return context
