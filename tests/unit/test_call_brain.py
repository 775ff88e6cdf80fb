"""The chat bot as the digital human's brain: same answers, the call's turns as its memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from handoff.bot.banking_bot import BankingBot
from handoff.bot.knowledge import KnowledgeBase, load_knowledge
from handoff.call_brain import CallBrain, call_escalation_context
from sessions.events import Event

NOW = datetime(2026, 12, 6, 23, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


def logged() -> list[Event]:
    """A conversation the text bot served, then a call: what the log holds."""
    data = {"customer_id": "alice", "channel": "chat"}
    return [
        Event("c1", 1, "conversation.started", NOW, "customer:alice", data),
        Event("c1", 2, "handler.changed", NOW, "system", {"from": "none", "to": "bot"}),
        Event("c1", 3, "call.started", NOW, "customer:alice", {"call_id": "k", "media": "audio"}),
        Event(
            "c1",
            4,
            "handler.changed",
            NOW,
            "system",
            {"from": "bot", "to": "digital_human", "reason": "call"},
        ),
    ]


def brain(bot: BankingBot) -> CallBrain:
    async def history() -> list[Event]:
        return logged()

    return CallBrain(bot, history, "c1", "alice", lambda: NOW)


async def test_answers_are_the_chat_bot_s_and_the_turns_are_kept(knowledge: KnowledgeBase) -> None:
    mind = brain(BankingBot(knowledge))
    spoken = await mind.answer("what are the fees for an international transfer")
    assert spoken.escalation is None
    entry = knowledge.by_intent("payments.international_fees")
    assert entry is not None
    assert spoken.text == entry.answer
    assert [(e.actor, e.data["text"]) for e in mind.turns] == [
        ("customer:alice", "what are the fees for an international transfer"),
        ("digital_human", entry.answer),
    ]
    assert mind.turns[1].data["kind"] == "answer"


async def test_asking_for_a_person_escalates_with_the_call_s_words_and_a_summary(
    knowledge: KnowledgeBase,
) -> None:
    mind = brain(BankingBot(knowledge))
    mind.said("Hello, how can I help?")
    await mind.answer("what are the fees for an international transfer")
    spoken = await mind.answer("I want to talk to a person")
    assert spoken.text, "the customer is told before being handed over"
    escalation = spoken.escalation
    assert escalation is not None and escalation.reason == "customer_request"
    # The summary knows what the digital human already answered on the call.
    assert "International transfer fees" in escalation.summary
    context = call_escalation_context(escalation, mind.turns)
    speakers = [line["speaker"] for line in context["transcript"]]
    assert speakers == ["digital_human", "customer", "digital_human", "customer", "digital_human"]
    assert context["transcript"][3]["text"] == "I want to talk to a person"
    assert context["summary"] == escalation.summary and context["channel"] == "call"


@pytest.mark.parametrize("limit", [1, 2])
async def test_misunderstood_too_often_goes_to_a_person(
    knowledge: KnowledgeBase, limit: int
) -> None:
    mind = brain(BankingBot(knowledge, max_misunderstandings=limit))
    for _ in range(limit):
        spoken = await mind.answer("flibber jabber wobble")
        assert spoken.escalation is None
    spoken = await mind.answer("flibber jabber wobble")
    assert spoken.escalation is not None and spoken.escalation.reason == "not_understood"


async def test_a_sensitive_topic_goes_to_a_person_at_once(knowledge: KnowledgeBase) -> None:
    mind = brain(BankingBot(knowledge))
    spoken = await mind.answer("I don't recognise a payment on my account")
    assert spoken.escalation is not None
    assert spoken.escalation.reason == "sensitive_intent"
