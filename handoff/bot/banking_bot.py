"""The self-service banking bot: answers what it is sure of, asks when unsure, hands over.

Policy, in order:
1. A suggestion the bot offered, typed or clicked exactly, is that entry.
2. Otherwise the knowledge base is ranked with BM25. A sensitive entry (fraud, complaint)
   on top with a score above the threshold goes to a person at once, whatever the
   margin: asking a fraud victim "did you mean...?" costs more than a needless handover.
3. A top entry above the threshold and clearly ahead of the runner-up is answered (or,
   for "talk to a person", escalated).
4. Anything else is a miss: "did you mean...?" when something matched, a fallback when
   nothing did; the miss after `max_misunderstandings` consecutive ones goes to a person.

With an intent classifier (`IntentSupport`), the policy is, in order:
1. A self-service task in progress takes the message (unless it clearly changes topic).
2. A suggestion the bot offered, typed or clicked exactly, is that entry or intent.
3. "Talk to a person" and sensitive knowledge entries (BM25), as above.
4. A task the message asks for (freeze my card...) starts.
5. A confident intent is answered, or, if sensitive, goes to a person with what was
   understood (intent, confidence, slots) on the intent's queue and priority.
6. A confident knowledge match is answered (free text the intents do not cover).
7. Otherwise "did you mean...?" offering the likeliest intents; a miss, as above.

The bot is stateless: every decision is derived from `history` (a task in progress
included), so any node can serve any conversation and a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from handoff.bot.history import (
    answered_intents,
    consecutive_misses,
    offered_suggestions,
    transcript,
)
from handoff.bot.intents import IntentSupport, understood_json
from handoff.bot.knowledge import KnowledgeBase, KnowledgeEntry, normalize_title
from handoff.bot.matcher import KnowledgeMatcher, Match
from handoff.bot.summary import escalation_summary
from handoff.handlers import Escalate, Reply, Say
from handoff.selfservice import flow_state_from_history
from handoff.understanding.answers import IntentAnswer
from handoff.understanding.facade import Understood
from sessions.events import Event

__all__ = [
    "DEFAULT_ANSWER_THRESHOLD",
    "DEFAULT_MARGIN",
    "BankingBot",
]

# Tuned on ~145 paraphrases of our own against the shipped knowledge base, then checked
# on a separate set (tests/unit/test_bot_paraphrases.py): a single common word ("card",
# "money", "pay") scores 5-7, a real question 9 and up. Scores follow the idf of the
# knowledge base's vocabulary, so a much larger knowledge base may want these re-tuned.
DEFAULT_ANSWER_THRESHOLD = 8.5
# The runner-up must score at most (1 - margin) of the top entry for a confident answer.
DEFAULT_MARGIN = 0.1
# Entries offered by "did you mean...?": the close ones, never fewer than two if any.
_CLARIFY_OPTIONS = 3
_CLARIFY_RELATIVE = 0.5
_TRANSCRIPT_LINES = 20
_NOT_UNDERSTOOD_QUEUE = "general"

EscalationReason = Literal["customer_request", "sensitive_intent", "not_understood"]


class BankingBot:
    """A `handoff.handlers.Handler` that answers from a `KnowledgeBase`."""

    def __init__(
        self,
        knowledge: KnowledgeBase,
        *,
        answer_threshold: float = DEFAULT_ANSWER_THRESHOLD,
        margin: float = DEFAULT_MARGIN,
        max_misunderstandings: int = 2,
        intents: IntentSupport | None = None,
    ) -> None:
        if answer_threshold <= 0:
            raise ValueError("answer_threshold must be positive")
        if not 0 <= margin < 1:
            raise ValueError("margin must be in [0, 1)")
        if max_misunderstandings < 0:
            raise ValueError("max_misunderstandings must be >= 0")
        self._knowledge = knowledge
        self._matcher = KnowledgeMatcher(knowledge)
        self._threshold = answer_threshold
        self._margin = margin
        self._max_misses = max_misunderstandings
        self._intents = intents

    @property
    def knowledge(self) -> KnowledgeBase:
        return self._knowledge

    async def greet(self, history: Sequence[Event], *, returning: bool) -> Sequence[Reply]:
        texts = self._knowledge.texts
        text = texts.returning_greeting if returning else texts.greeting
        return [Say(text, "greeting", suggestions=self._popular_titles())]

    async def reply(self, history: Sequence[Event], text: str) -> Sequence[Reply]:
        if self._intents is not None and self._intents.understander.ready:
            return await self._reply_with_intents(self._intents, history, text)
        chosen = self._offered_entry(history, text)
        if chosen is not None:
            return self._act_on(chosen, history, text)
        ranked = self._matcher.rank(text, k=_CLARIFY_OPTIONS)
        if ranked and ranked[0].score >= self._threshold:
            top = ranked[0].entry
            if top.sensitive or self._is_clear(ranked):
                return self._act_on(top, history, text)
        return self._miss(ranked, history, text)

    async def _reply_with_intents(
        self, support: IntentSupport, history: Sequence[Event], text: str
    ) -> Sequence[Reply]:
        understood = await support.understander.understand(text)
        logged = understood_json(understood)
        logged["seq"] = history[-1].seq  # the message it is about
        utterance = support.utterance(text, understood)
        customer, request_id = _customer_and_request(history)
        lines = transcript(history, _TRANSCRIPT_LINES)
        selfservice = support.selfservice
        if selfservice is not None and (state := flow_state_from_history(history)):
            turn = await selfservice.resume(state, customer, utterance, request_id)
            if not turn.topic_changed:
                return support.replies_for_turn(turn, understood=logged, transcript=lines)
        if (entry := self._offered_entry(history, text)) is not None:
            return self._act_on(entry, history, text)
        if (offered := self._offered_intent(support, history, text)) is not None:
            return self._on_intent(support, offered, history, text, logged, 1.0)
        confident = understood.confidence >= support.threshold
        sure = support.answers.get(understood.intent) if confident else None
        if sure is not None and sure.sensitive:
            # Fraud and disputes go to a person with what was understood (which card,
            # which amount), before any keyword match could send them without it.
            return self._on_intent(support, sure, history, text, logged, understood.confidence)
        ranked = self._matcher.rank(text, k=_CLARIFY_OPTIONS)
        top = ranked[0] if ranked else None
        if (
            top is not None
            and top.entry.action == "escalate"
            and top.score >= self._threshold
            and (top.entry.sensitive or self._is_clear(ranked))
        ):
            return _with_understanding(self._act_on(top.entry, history, text), logged)
        if selfservice is not None and (flow := selfservice.flow_for(utterance)) is not None:
            turn = await selfservice.start(flow, customer, utterance, request_id)
            return support.replies_for_turn(turn, understood=logged, transcript=lines)
        if sure is not None:
            return self._on_intent(support, sure, history, text, logged, understood.confidence)
        if top is not None and top.score >= self._threshold and self._is_clear(ranked):
            return self._act_on(top.entry, history, text)
        return self._intent_miss(support, understood, ranked, history, text, logged)

    def _offered_intent(
        self, support: IntentSupport, history: Sequence[Event], text: str
    ) -> IntentAnswer | None:
        typed = normalize_title(text)
        if not any(normalize_title(s) == typed for s in offered_suggestions(history)):
            return None
        return support.answer_by_title(text)

    def _on_intent(
        self,
        support: IntentSupport,
        answer: IntentAnswer,
        history: Sequence[Event],
        text: str,
        logged: dict[str, Any],
        confidence: float,
    ) -> list[Reply]:
        data = {"understood": logged}
        if not answer.sensitive:
            return [Say(answer.answer, "answer", answer.intent, answer.follow_ups, data)]
        route = support.routes.route(answer.intent)
        summary = escalation_summary(
            "sensitive_intent",
            answered_titles=[],
            last_text=text,
            topic=answer.title,
        )
        return [
            Say(answer.answer, "escalating", answer.intent, data=data),
            Escalate(
                reason="sensitive_intent",
                intent=answer.intent,
                summary=summary,
                queue=route.queue,
                priority=route.priority,
                transcript=transcript(history, _TRANSCRIPT_LINES),
                confidence=confidence,
                slots={slot["name"]: slot["value"] for slot in logged["slots"]},
            ),
        ]

    def _intent_miss(
        self,
        support: IntentSupport,
        understood: Understood,
        ranked: Sequence[Match],
        history: Sequence[Event],
        text: str,
        logged: dict[str, Any],
    ) -> list[Reply]:
        misses = consecutive_misses(history)
        if misses >= self._max_misses:
            route = support.routes.route(understood.intent)
            replies = self._escalate("not_understood", history, text, misses=misses + 1)
            # The classifier's best guess still tells routing which team is likeliest.
            return [
                r
                if not isinstance(r, Escalate)
                else Escalate(
                    reason=r.reason,
                    intent=understood.intent,
                    summary=r.summary,
                    queue=route.queue,
                    priority=route.priority,
                    transcript=r.transcript,
                    confidence=understood.confidence,
                )
                for r in replies
            ]
        options = support.clarify_options(understood)
        if not options:
            return self._miss(ranked, history, text)
        texts = self._knowledge.texts
        return [
            Say(
                texts.clarify.replace("{options}", _or_list(options)),
                "clarify",
                suggestions=options,
                data={"understood": logged},
            )
        ]

    def _is_clear(self, ranked: Sequence[Match]) -> bool:
        if len(ranked) < 2:
            return True
        return ranked[1].score <= ranked[0].score * (1.0 - self._margin)

    def _offered_entry(self, history: Sequence[Event], text: str) -> KnowledgeEntry | None:
        typed = normalize_title(text)
        if not any(normalize_title(s) == typed for s in offered_suggestions(history)):
            return None
        return self._knowledge.by_title(typed)

    def _act_on(self, entry: KnowledgeEntry, history: Sequence[Event], text: str) -> list[Reply]:
        if entry.action == "answer":
            return [Say(entry.answer, "answer", entry.intent, entry.follow_ups)]
        if entry.sensitive:
            return self._escalate("sensitive_intent", history, text, entry=entry)
        return self._escalate("customer_request", history, text, entry=entry)

    def _miss(self, ranked: Sequence[Match], history: Sequence[Event], text: str) -> list[Reply]:
        misses = consecutive_misses(history)
        if misses >= self._max_misses:
            return self._escalate("not_understood", history, text, misses=misses + 1)
        texts = self._knowledge.texts
        if not ranked:
            return [Say(texts.fallback, "fallback", suggestions=self._popular_titles())]
        floor = ranked[0].score * _CLARIFY_RELATIVE
        options = [m.entry.title for i, m in enumerate(ranked) if i < 2 or m.score >= floor]
        return [
            Say(
                texts.clarify.replace("{options}", _or_list(options)),
                "clarify",
                suggestions=tuple(options),
            )
        ]

    def _escalate(
        self,
        reason: EscalationReason,
        history: Sequence[Event],
        text: str,
        *,
        entry: KnowledgeEntry | None = None,
        misses: int = 0,
    ) -> list[Reply]:
        answered = [
            found
            for intent in answered_intents(history)
            if (found := self._knowledge.by_intent(intent)) is not None
        ]
        intent, queue, priority = _route(reason, entry, answered)
        say_text = (
            entry.answer if entry is not None else self._knowledge.texts.escalating_not_understood
        )
        summary = escalation_summary(
            reason,
            answered_titles=[e.title for e in answered],
            last_text=text,
            topic=entry.title if entry is not None else None,
            misses=misses,
        )
        return [
            # The message answers what the customer just said; the escalation carries
            # the topic the agent should pick up.
            Say(say_text, "escalating", entry.intent if entry is not None else intent),
            Escalate(
                reason=reason,
                intent=intent,
                summary=summary,
                queue=queue,
                priority=priority,
                transcript=transcript(history, _TRANSCRIPT_LINES),
            ),
        ]

    def _popular_titles(self) -> tuple[str, ...]:
        return tuple(entry.title for entry in self._knowledge.popular)


def _route(
    reason: EscalationReason, entry: KnowledgeEntry | None, answered: Sequence[KnowledgeEntry]
) -> tuple[str | None, str, int]:
    """The (intent, queue, priority) an escalation carries."""
    if reason == "sensitive_intent" and entry is not None:
        # The sensitive topic decides where it goes, whatever came before.
        return entry.intent, entry.queue, entry.priority
    # A plain request for a person, or a customer the bot could not follow, goes to the
    # team of the last topic answered: someone who read about card PINs and still wants
    # a person most likely needs the cards team.
    topic = answered[-1] if answered else entry
    if topic is None:
        return None, _NOT_UNDERSTOOD_QUEUE, 0
    priority = max(topic.priority, entry.priority if entry is not None else 0)
    return topic.intent, topic.queue, priority


def _with_understanding(replies: Sequence[Reply], logged: dict[str, Any]) -> list[Reply]:
    """A keyword-matched handover still tells the agent what the classifier found: the
    slots (card, amount) and how sure it was."""
    slots = {slot["name"]: slot["value"] for slot in logged["slots"]}
    enriched: list[Reply] = []
    for reply in replies:
        if isinstance(reply, Say):
            reply = replace(reply, data={**reply.data, "understood": logged})
        elif isinstance(reply, Escalate):
            reply = replace(reply, slots=slots, confidence=float(logged["confidence"]))
        enriched.append(reply)
    return enriched


def _customer_and_request(history: Sequence[Event]) -> tuple[str, str]:
    """Whose conversation, and a key unique to the message being answered: the bank's
    system is asked at most once per message, however often the reaction runs."""
    first, last = history[0], history[-1]
    customer = str(first.data.get("customer_id") or first.actor.removeprefix("customer:"))
    return customer, f"{last.conversation_id}:{last.seq}"


def _or_list(titles: Sequence[str]) -> str:
    quoted = [f'"{title}"' for title in titles]
    if len(quoted) == 1:
        return quoted[0]
    return f"{', '.join(quoted[:-1])} or {quoted[-1]}"
