"""The offline ticket filler: a ticket from the log and what was understood, no model needed.

Every field comes from something recorded (an intent, a slot, a message, a task), never
from guessing, and `sources` says which; the result is always a valid ticket, ready for
the agent to check or for an LLM to polish.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

from handoff.bot.summary import quote
from handoff.tickets.schema import MAX_CUSTOMER_REQUEST, MAX_RESOLUTION, MAX_SUMMARY
from handoff.tickets.slots import card_or_account_of, slot_amounts, slot_dates
from handoff.tickets.tasks import task_card, task_events, task_line
from handoff.tickets.taxonomy import IntentCategory, Taxonomy, load_taxonomy
from handoff.tickets.ticket import Ticket
from handoff.tickets.understood import UnderstoodLike
from sessions.events import Event
from sessions.handlers import is_automatic
from sessions.masking import mask

__all__ = ["MIN_CONFIDENCE", "customer_messages", "prefill"]

log = logging.getLogger("tandem.tickets")

# Below this the classifier's guess is not trusted to file a ticket under.
MIN_CONFIDENCE = 0.5
# Fraud and lost cards outrank whatever else was asked: a bank must never file a stolen
# card under "Delivery" because the customer later asked when the new one arrives.
_FIRST_CATEGORIES = ("Security/Fraud",)
_BOT_KINDS_WITH_INTENT = frozenset({"answer", "escalating"})
_MIN_WORDS = 3
# Words that carry no request: "hi", "agent please", "can I talk to a person?".
_EMPTY_WORDS = (
    "hi hello hey good morning afternoon evening agent human person operator someone"
    " representative real live please thanks thank you ok okay yes no a an the to talk"
    " speak with i want need would like can could help me chat connect transfer"
)
_NOT_A_REQUEST = frozenset(_EMPTY_WORDS.split())
_QUOTE = 200
_NOT_STATED = "Not stated by the customer."


def prefill(
    history: Sequence[Event],
    understood: Sequence[UnderstoodLike] = (),
    *,
    taxonomy: Taxonomy | None = None,
) -> Ticket:
    """The offline ticket for a conversation's log (oldest first).

    `understood` is what language understanding made of the customer's messages (any
    order); without it the category comes from the bot's answers and the handover.
    """
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    sources: dict[str, str] = {}
    main = _main_intent(history, understood, taxonomy)
    if main is not None:
        category, sub_category = main.category, main.sub_category
        sources["category"] = sources["sub_category"] = "intent"
    else:
        category, sub_category = taxonomy.fallback
        sources["category"] = sources["sub_category"] = "default"

    slots = [slot for message in sorted(understood, key=_seq) for slot in message.slots]
    amounts = slot_amounts(slots)
    dates = slot_dates(slots)
    if amounts:
        sources["amounts"] = "slots"
    if dates:
        sources["dates"] = "slots"
    card = next(
        (
            found
            for slot in reversed(slots)
            if (found := card_or_account_of(slot.name, slot.value, slot.text))
        ),
        None,
    )
    if card:
        sources["card_or_account"] = "slots"
    elif card := task_card(history):
        sources["card_or_account"] = "task"

    request, sources["customer_request"] = _customer_request(history, understood, main)
    resolution = _clip(" ".join(task_line(e.data) for e in task_events(history)), MAX_RESOLUTION)
    if resolution:
        sources["resolution"] = "task"
    summary, sources["summary"] = _summary(history, main, resolution, taxonomy)
    return Ticket(
        category=category,
        sub_category=sub_category,
        summary=summary,
        customer_request=request,
        resolution=resolution,
        amounts=amounts,
        dates=dates,
        card_or_account=card,
        intent=main.intent if main else None,
        filled_by="offline",
        sources=sources,
    )


def customer_messages(history: Sequence[Event]) -> list[Event]:
    return [e for e in history if e.type == "message.sent" and e.actor.startswith("customer:")]


def _main_intent(
    history: Sequence[Event], understood: Sequence[UnderstoodLike], taxonomy: Taxonomy
) -> IntentCategory | None:
    # Every intent the conversation committed to, with where it happened; the latest wins
    # (the customer's last topic is what the agent dealt with), fraud first.
    seen: list[tuple[int, IntentCategory]] = []
    for message in understood:
        found = taxonomy.for_intent(message.intent)
        if found and message.confidence >= MIN_CONFIDENCE:
            seen.append((message.seq, found))
    for event in history:
        found = taxonomy.for_intent(_event_intent(event))
        if found:
            seen.append((event.seq, found))
    if not seen:
        unknown = {m.intent for m in understood if m.intent and not taxonomy.for_intent(m.intent)}
        if unknown:
            log.info("ticket: intents not in the categories file: %s", sorted(unknown))
        return None
    seen.sort(key=lambda item: item[0])
    for category in _FIRST_CATEGORIES:
        urgent = [found for _, found in seen if found.category == category]
        if urgent:
            return urgent[-1]
    return seen[-1][1]


def _event_intent(event: Event) -> str | None:
    data = event.data
    if event.type == "message.sent" and is_automatic(event.actor):
        intent = data.get("intent") if data.get("kind") in _BOT_KINDS_WITH_INTENT else None
    elif event.type == "handler.changed" and isinstance(data.get("context"), Mapping):
        intent = data["context"].get("intent")
    else:
        intent = None
    return intent if isinstance(intent, str) else None


def _customer_request(
    history: Sequence[Event], understood: Sequence[UnderstoodLike], main: IntentCategory | None
) -> tuple[str, str]:
    messages = customer_messages(history)
    if main is not None:
        # The message the main intent was understood from says it best, in their words.
        seqs = {m.seq for m in understood if m.intent == main.intent}
        for event in messages:
            if event.seq in seqs and _is_substantive(_text(event)):
                return _clip(mask(_flat(_text(event))), MAX_CUSTOMER_REQUEST), "message"
    for event in messages:
        if _is_substantive(_text(event)):
            return _clip(mask(_flat(_text(event))), MAX_CUSTOMER_REQUEST), "message"
    if main is not None:
        return main.request, "intent"
    return _NOT_STATED, "default"


def _summary(
    history: Sequence[Event], main: IntentCategory | None, resolution: str, taxonomy: Taxonomy
) -> tuple[str, str]:
    parts: list[str] = []
    handover_at, handover = _last_handover_summary(history)
    first = next((e for e in customer_messages(history) if _is_substantive(_text(e))), None)
    if handover:
        parts.append(mask(_flat(handover)))
        source = "handoff"
    else:
        source = "transcript"
        if main is not None:
            parts.append(f"{main.category} / {main.sub_category}: {main.request}")
        if first is not None:
            parts.append(f"Customer wrote: {quote(mask(_text(first)), _QUOTE)}.")
        answered = _answered(history, taxonomy)
        if answered:
            parts.append(f"Bot answered about: {'; '.join(answered)}.")
    if resolution:
        parts.append(resolution)
    # Whatever the customer said after the handover (or after their first words) is news.
    shown = None if handover else first
    last = next(
        (
            e
            for e in reversed(customer_messages(history))
            if e.seq > handover_at and _is_substantive(_text(e))
        ),
        None,
    )
    if last is not None and last is not shown:
        parts.append(f"Last customer message: {quote(mask(_text(last)), _QUOTE)}.")
    if not parts:
        parts.append("No customer request was recorded in the conversation.")
    return _clip(" ".join(parts), MAX_SUMMARY), source


def _last_handover_summary(history: Sequence[Event]) -> tuple[int, str | None]:
    for event in reversed(history):
        context = event.data.get("context") if event.type == "handler.changed" else None
        if isinstance(context, Mapping):
            summary = context.get("summary")
            if isinstance(summary, str) and summary.strip():
                return event.seq, summary
    return 0, None


def _answered(history: Sequence[Event], taxonomy: Taxonomy) -> list[str]:
    topics = []
    for event in history:
        is_answer = event.data.get("kind") == "answer"
        if event.type == "message.sent" and is_automatic(event.actor) and is_answer:
            found = taxonomy.for_intent(_event_intent(event))
            if found:
                topics.append(f"{found.category} / {found.sub_category}")
    return list(dict.fromkeys(topics))


def _is_substantive(text: str) -> bool:
    words = re.findall(r"[\w']+", text.casefold())
    return len(words) >= _MIN_WORDS and not set(words) <= _NOT_A_REQUEST


def _text(event: Event) -> str:
    text = event.data.get("text")
    return text if isinstance(text, str) else ""


def _flat(text: str) -> str:
    return " ".join(text.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _seq(message: UnderstoodLike) -> int:
    return message.seq
