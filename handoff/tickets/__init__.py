"""Ticket auto-fill: a ticket from the conversation's log, optionally polished by an LLM.

`prefill` fills a ticket offline from intents, slots, messages and self-service tasks;
`improve` lets an LLM (any `LLM` port) reword it within strict limits, falling back to
the offline ticket on any failure. Stdlib-only domain code.
"""

from handoff.tickets.llm import LLM, LLMError, improve
from handoff.tickets.offline import prefill
from handoff.tickets.schema import ticket_schema, validate
from handoff.tickets.taxonomy import IntentCategory, Taxonomy, load_taxonomy
from handoff.tickets.ticket import Amount, FilledBy, Ticket, TicketError
from handoff.tickets.understood import (
    SlotLike,
    SlotValue,
    UnderstoodLike,
    UnderstoodMessage,
    understood_from_json,
)
from sessions.masking import mask

__all__ = [
    "LLM",
    "Amount",
    "FilledBy",
    "IntentCategory",
    "LLMError",
    "SlotLike",
    "SlotValue",
    "Taxonomy",
    "Ticket",
    "TicketError",
    "UnderstoodLike",
    "UnderstoodMessage",
    "improve",
    "load_taxonomy",
    "mask",
    "prefill",
    "ticket_schema",
    "understood_from_json",
    "validate",
]
