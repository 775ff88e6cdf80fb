"""Handing a failed or sensitive flow to a person: what the customer hears, what the agent
reads, and where the conversation is routed.

The agent gets the slots collected so far (which card, which amount), so the customer
does not have to say it all again.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from handoff.selfservice.flows import FlowSpec
from handoff.selfservice.model import EscalationReason, EscalationRequest
from handoff.selfservice.wording import money

__all__ = ["FRAUD_INTENT", "FRAUD_PRIORITY", "FRAUD_QUEUE", "customer_notice", "escalation"]

FRAUD_INTENT: Final = "compromised_card"
FRAUD_QUEUE: Final = "fraud"
FRAUD_PRIORITY: Final = 9

_NOTICES: Mapping[EscalationReason, str] = MappingProxyType(
    {
        "bank_error": (
            "I'm sorry, I couldn't {doing} just now. I'm passing you to a colleague, with the "
            "details you've given me, so you won't have to repeat them."
        ),
        "not_allowed": (
            "I'm sorry, I can't {doing} here. I'm passing you to a colleague who can help, with "
            "the details you've given me."
        ),
        "compromised": (
            "I'm sorry this has happened. I'm bringing in our fraud team now, who will join this "
            "chat as a priority. While you wait, freeze your card in the app under Cards if you "
            "can, and don't share your PIN, passwords or one-time codes with anyone, including us."
        ),
        "not_understood": (
            "I'm sorry, I'm having trouble following. I'm passing you to a colleague, with what "
            "you've told me so far."
        ),
        "nothing_to_act_on": (
            "I can't see any {missing} on your profile, so I'm passing you to a colleague who "
            "can look into it."
        ),
    }
)


def customer_notice(spec: FlowSpec, reason: EscalationReason, missing: str = "") -> str:
    """What the customer is told as the conversation goes to a person. `missing`: what the
    customer has none of ("cards"), for "nothing_to_act_on"."""
    return _NOTICES[reason].format(doing=spec.doing, missing=missing or "details")


def escalation(
    spec: FlowSpec, reason: EscalationReason, detail: str, slots: Mapping[str, Any]
) -> EscalationRequest:
    """The request for a person. `detail` says what went wrong, for the agent."""
    if reason == "compromised":
        intent, queue, priority = FRAUD_INTENT, FRAUD_QUEUE, FRAUD_PRIORITY
    else:
        intent, queue, priority = spec.intent, spec.queue, spec.priority
    summary = f"Self-service to {spec.title} {detail}. {_collected(slots)}"
    return EscalationRequest(reason, intent, summary, queue, priority, dict(slots))


def _collected(slots: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if card := slots.get("card"):
        parts.append(f"card: {card['label']} ({card['status']})")
    if account := slots.get("account"):
        parts.append(f"account: {account['label']}")
    if ref := slots.get("transfer_ref"):
        parts.append(f"transfer: {ref}")
    if amount := slots.get("amount"):
        currency = amount.get("currency") or ""
        parts.append(f"amount: {money(Decimal(amount['value']), currency).rstrip()}")
    return f"Collected {'; '.join(parts)}." if parts else "Nothing collected yet."
