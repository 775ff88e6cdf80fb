"""The one-glance summary an agent reads when the bot hands a conversation over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

__all__ = ["escalation_summary", "quote"]

_QUOTE_CHARS = 120


def escalation_summary(
    reason: Literal["customer_request", "sensitive_intent", "not_understood"],
    *,
    answered_titles: Sequence[str],
    last_text: str,
    topic: str | None = None,
    misses: int = 0,
) -> str:
    """One or two sentences: what the bot already covered, then why a person is needed.

    `topic` is the sensitive entry's title; `misses` how many replies the bot got wrong.
    """
    said = quote(last_text)
    if reason == "customer_request":
        why = f"asked for a person: {said}."
    elif reason == "sensitive_intent":
        why = f"raised a sensitive topic ({topic or 'unknown'}): {said}."
    else:
        why = f"was not understood {misses} times in a row; last message: {said}."
    if answered_titles:
        return f"Customer asked about {_listing(answered_titles)}; then {why}"
    return f"Customer {why}"


def quote(text: str, limit: int = _QUOTE_CHARS) -> str:
    """`text` on one line, shortened to `limit` characters, in single quotes."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return f"'{flat}'"


def _listing(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    return f"{', '.join(items[:-1])} and {items[-1]}"
