"""The bot's intent path: what the classifier understood, turned into replies.

The chat bot and the voice bot share it. It answers each of the 77 intents from the
answers catalogue, runs self-service tasks, sends sensitive intents to a person with what
was understood, and asks a clarifying question offering the likeliest intents when the
classifier is unsure. The knowledge search (BM25) stays for free-text questions the
intents do not cover, and for "talk to a person".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from handoff.handlers import Escalate, EscalationReason, Reply, Say, Task
from handoff.selfservice import FlowTurn, SelfService, Utterance
from handoff.understanding.answers import IntentAnswer, find_by_title
from handoff.understanding.facade import Understood
from handoff.understanding.routes import IntentRoutes
from handoff.understanding.slots import AccountReference, CardReference, Money, Slot, value_to_json

__all__ = ["IntentSupport", "Understander", "understood_json"]

# Alternatives offered by a clarifying question: at most this many, each at least this
# likely, so "did you mean" never lists long shots.
_CLARIFY_OPTIONS = 3
_CLARIFY_FLOOR = 0.05


class Understander(Protocol):
    """Understanding, or anything that understands the same way (tests)."""

    @property
    def ready(self) -> bool:
        """False while the model is still loading: the bot uses its knowledge search."""
        ...

    async def understand(self, text: str) -> Understood: ...


def understood_json(understood: Understood) -> dict[str, Any]:
    """What was understood of a message, for the log (tickets and reports read it)."""
    return {
        "intent": understood.intent,
        "confidence": round(understood.confidence, 3),
        "slots": [
            {"name": slot.name, "text": slot.text, "value": value_to_json(slot.value)}
            for slot in understood.slots
        ],
    }


@dataclass(frozen=True, slots=True)
class IntentSupport:
    understander: Understander
    answers: Mapping[str, IntentAnswer]
    routes: IntentRoutes
    selfservice: SelfService | None = None
    # Below this confidence the bot does not act on the intent: it asks.
    threshold: float = 0.6

    def utterance(self, text: str, understood: Understood) -> Utterance:
        return Utterance(
            text=text,
            intent=understood.intent,
            confidence=understood.confidence,
            slots=_flow_slots(understood.slots),
        )

    def answer_by_title(self, title: str) -> IntentAnswer | None:
        return find_by_title(self.answers, title)

    def clarify_options(self, understood: Understood) -> tuple[str, ...]:
        ranked = [(understood.intent, understood.confidence), *understood.alternatives]
        titles: list[str] = []
        for intent, confidence in ranked:
            answer = self.answers.get(intent)
            if answer is None or confidence < _CLARIFY_FLOOR or answer.title in titles:
                continue
            titles.append(answer.title)
            if len(titles) == _CLARIFY_OPTIONS:
                break
        return tuple(titles)

    def replies_for_turn(
        self,
        turn: FlowTurn,
        *,
        understood: Mapping[str, Any],
        transcript: tuple[tuple[str, str], ...],
    ) -> list[Reply]:
        """A self-service step as replies: the task's record first (so the log shows
        what was done before the bot says so), then the message or the handover."""
        replies: list[Reply] = []
        if turn.done is not None:
            done = turn.done
            replies.append(Task(done.flow, done.action, done.ok, done.slots, done.result))
        if turn.escalate is not None:
            request = turn.escalate
            replies.append(
                Say(turn.say, "escalating", request.intent, data={"understood": understood})
            )
            replies.append(
                Escalate(
                    reason=_ESCALATION_REASONS.get(request.reason, "task_failed"),
                    intent=request.intent,
                    summary=request.summary,
                    queue=request.queue,
                    priority=request.priority,
                    transcript=transcript,
                    confidence=float(understood.get("confidence") or 0.0) or None,
                    slots=request.slots,
                )
            )
            return replies
        # The flow, not the classifier's guess, says what the customer asked for ("freeze
        # my card" has no BANKING77 intent of its own and reads as a lost card): tickets
        # and reports take the intent from here.
        flow_name = turn.state.flow if turn.state is not None else None
        if flow_name is None and turn.done is not None:
            flow_name = turn.done.flow
        understood = {**understood, "flow": flow_name, "intent": _FLOW_INTENTS.get(flow_name)}
        data: dict[str, Any] = {"understood": understood}
        if turn.state is not None:
            data["flow"] = turn.state.to_json()
        if turn.state is not None:
            replies.append(Say(turn.say, "task", turn.state.flow, turn.suggestions, data))
        else:
            flow = turn.done.flow if turn.done is not None else None
            replies.append(Say(turn.say, "task_done", flow, turn.suggestions, data))
        return replies


# The BANKING77 intent a self-service flow serves, where there is one.
_FLOW_INTENTS: Mapping[str | None, str] = {
    "report_lost_card": "lost_or_stolen_card",
    "transfer_status": "pending_transfer",
}

_ESCALATION_REASONS: Mapping[str, EscalationReason] = {
    "compromised": "sensitive_intent",
    "not_understood": "not_understood",
}


def _flow_slots(slots: Sequence[Slot]) -> dict[str, Any]:
    """The extracted slots in the shapes the self-service flows take (see
    `handoff.selfservice.model`); the flows read transfer references and anything else
    from the text themselves."""
    found: dict[str, Any] = {}
    for slot in slots:
        match slot.value:
            case Money(amount=amount, currency=currency):
                found.setdefault("amount", {"value": amount, "currency": currency})
            case CardReference(product=product, last4=last4):
                card: dict[str, str] = {}
                if last4:
                    card["last4"] = last4
                if product in ("debit", "credit"):
                    card["kind"] = product
                if card:
                    found.setdefault("card", card)
            case AccountReference(product=product):
                if product:
                    found.setdefault("account", {"name": product})
    return found
