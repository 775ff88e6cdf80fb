"""The banking bot's conversational policy, driven through the Handler port with real logs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.bot import BankingBot, KnowledgeBase, load_knowledge
from handoff.bot.knowledge import parse_knowledge
from handoff.handlers import Escalate, Handler, Reply, Say
from sessions.events import Event

CUSTOMER = "customer:cust-alice"
AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def bot(knowledge: KnowledgeBase) -> BankingBot:
    return BankingBot(knowledge)


class Log:
    """Builds a conversation log the way the orchestrator would append it."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.handler_changed("none", "bot", "start")

    def _append(self, type_: Any, actor: str, data: dict[str, Any]) -> None:
        self.events.append(Event("c-1", len(self.events) + 1, type_, AT, actor, data))

    def handler_changed(self, old: str, new: str, reason: str) -> None:
        self._append("handler.changed", "system", {"from": old, "to": new, "reason": reason})

    def customer(self, text: str) -> list[Event]:
        self._append("message.sent", CUSTOMER, {"text": text})
        return self.events

    def bot(self, kind: str, text: str = "…", suggestions: Sequence[str] = ()) -> None:
        self._append(
            "message.sent",
            "bot",
            {"text": text, "kind": kind, "intent": None, "suggestions": list(suggestions)},
        )

    def record(self, replies: Sequence[Reply]) -> None:
        for reply in replies:
            if isinstance(reply, Say):
                self._append(
                    "message.sent",
                    "bot",
                    {
                        "text": reply.text,
                        "kind": reply.kind,
                        "intent": reply.intent,
                        "suggestions": list(reply.suggestions),
                    },
                )

    async def say(self, bot: BankingBot, text: str) -> Sequence[Reply]:
        replies = await bot.reply(self.customer(text), text)
        self.record(replies)
        return replies


def only_say(replies: Sequence[Reply]) -> Say:
    assert len(replies) == 1
    (say,) = replies
    assert isinstance(say, Say)
    return say


def escalation(replies: Sequence[Reply]) -> tuple[Say, Escalate]:
    assert len(replies) == 2
    say, escalate = replies
    assert isinstance(say, Say)
    assert say.kind == "escalating"
    assert isinstance(escalate, Escalate)
    return say, escalate


def test_the_bot_is_a_handler(bot: BankingBot) -> None:
    handler: Handler = bot
    assert handler is bot


async def test_first_greeting_offers_popular_topics(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    say = only_say(await bot.greet(Log().events, returning=False))
    assert say.kind == "greeting"
    assert say.text == knowledge.texts.greeting
    assert say.suggestions == tuple(e.title for e in knowledge.popular)
    assert all(knowledge.by_title(s) is not None for s in say.suggestions)


async def test_returning_greeting_welcomes_back(bot: BankingBot, knowledge: KnowledgeBase) -> None:
    log = Log()
    log.handler_changed("agent:bob", "bot", "handback")
    say = only_say(await bot.greet(log.events, returning=True))
    assert say.kind == "greeting"
    assert say.text == knowledge.texts.returning_greeting
    assert "welcome back" in say.text.lower()
    assert "anything else" in say.text.lower()


async def test_confident_answer_carries_intent_and_follow_ups(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    say = only_say(await Log().say(bot, "How can I lock my card for a few days?"))
    entry = knowledge.by_id("card_freeze")
    assert (say.kind, say.intent, say.text) == ("answer", entry.intent, entry.answer)
    assert say.suggestions == entry.follow_ups


async def test_asking_for_a_human_escalates(bot: BankingBot, knowledge: KnowledgeBase) -> None:
    log = Log()
    say, escalate = escalation(await log.say(bot, "I want to speak to a human"))
    human = knowledge.by_id("human")
    assert say.text == human.answer
    assert say.intent == human.intent
    assert escalate.reason == "customer_request"
    assert (escalate.intent, escalate.queue) == (human.intent, "general")
    assert escalate.summary == "Customer asked for a person: 'I want to speak to a human'."
    assert escalate.transcript == ((CUSTOMER, "I want to speak to a human"),)


@pytest.mark.parametrize(
    ("text", "entry_id", "queue"),
    [
        ("Someone stole my money", "fraud", "fraud"),
        ("there's a card payment on my statement that I never authorised", "fraud", "fraud"),
        ("I was tricked by a scam call and sent them money", "fraud", "fraud"),
        ("I want to complain", "complaint", "complaints"),
        ("I am really unhappy with the service I got yesterday", "complaint", "complaints"),
    ],
)
async def test_sensitive_topics_escalate_at_once(
    bot: BankingBot, knowledge: KnowledgeBase, text: str, entry_id: str, queue: str
) -> None:
    say, escalate = escalation(await Log().say(bot, text))
    entry = knowledge.by_id(entry_id)
    assert say.text == entry.answer
    assert escalate.reason == "sensitive_intent"
    assert (escalate.intent, escalate.queue, escalate.priority) == (
        entry.intent,
        queue,
        entry.priority,
    )
    assert f"raised a sensitive topic ({entry.title})" in escalate.summary


async def test_fraud_is_the_most_urgent_escalation(bot: BankingBot) -> None:
    _, fraud = escalation(await Log().say(bot, "I think I've been scammed"))
    _, complaint = escalation(await Log().say(bot, "I want to make a complaint"))
    _, human = escalation(await Log().say(bot, "let me talk to an agent"))
    assert fraud.priority > complaint.priority > human.priority


def close_call_knowledge(*, sensitive: bool) -> KnowledgeBase:
    """Two entries that match "money taken from my account" almost equally."""
    escalate: dict[str, Any] = {"action": "escalate", "sensitive": True} if sensitive else {}
    return parse_knowledge(
        {
            "bot": {
                "greeting": "Hi.",
                "returning_greeting": "Back.",
                "fallback": "Sorry?",
                "clarify": "Did you mean {options}?",
                "escalating_not_understood": "Passing you on.",
            },
            "entries": [
                {
                    "id": "fraud",
                    "intent": "security.fraud",
                    "title": "Report fraud",
                    "questions": ["money taken from my account"],
                    "answer": "A specialist will join.",
                    "queue": "fraud",
                    "priority": 10,
                    **escalate,
                },
                {
                    "id": "withdrawal",
                    "intent": "cards.withdrawal",
                    "title": "Cash withdrawals",
                    "questions": ["money taken from my account at an ATM"],
                    "answer": "See the app.",
                },
                {
                    "id": "other",
                    "intent": "other",
                    "title": "Something else",
                    "questions": ["opening hours", "branch address", "mortgage rates"],
                    "answer": "See the website.",
                },
            ],
        }
    )


@pytest.mark.parametrize(("sensitive", "kind"), [(True, "escalating"), (False, "clarify")])
async def test_a_sensitive_top_hit_ignores_the_margin(sensitive: bool, kind: str) -> None:
    bot = BankingBot(close_call_knowledge(sensitive=sensitive), answer_threshold=1.0, margin=0.5)
    replies = await Log().say(bot, "money taken from my account")
    first = replies[0]
    assert isinstance(first, Say)
    assert first.kind == kind
    if sensitive:
        _, escalate = escalation(replies)
        assert (escalate.reason, escalate.queue, escalate.priority) == (
            "sensitive_intent",
            "fraud",
            10,
        )


async def test_an_ambiguous_word_asks_which_topic(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    say = only_say(await Log().say(bot, "card"))
    assert say.kind == "clarify"
    assert say.intent is None
    assert 2 <= len(say.suggestions) <= 3
    for title in say.suggestions:
        entry = knowledge.by_title(title)
        assert entry is not None
        assert entry.intent.startswith("cards.")
        assert f'"{title}"' in say.text
    assert "Did you mean" in say.text


async def test_gibberish_gets_the_fallback(bot: BankingBot, knowledge: KnowledgeBase) -> None:
    say = only_say(await Log().say(bot, "xqzv plorp wibble"))
    assert (say.kind, say.text, say.intent) == ("fallback", knowledge.texts.fallback, None)
    assert say.suggestions == tuple(e.title for e in knowledge.popular)


async def test_empty_text_is_a_miss_not_a_crash(bot: BankingBot) -> None:
    assert only_say(await Log().say(bot, "   ")).kind == "fallback"


async def test_third_miss_in_a_row_escalates_as_not_understood(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    log = Log()
    log.bot("greeting")
    assert only_say(await log.say(bot, "card")).kind == "clarify"
    assert only_say(await log.say(bot, "flibber jabber")).kind == "fallback"
    say, escalate = escalation(await log.say(bot, "wubba lubba dub dub"))
    assert say.text == knowledge.texts.escalating_not_understood
    assert escalate.reason == "not_understood"
    assert (escalate.intent, escalate.queue, escalate.priority) == (None, "general", 0)
    assert escalate.summary == (
        "Customer was not understood 3 times in a row; last message: 'wubba lubba dub dub'."
    )


async def test_an_answer_resets_the_miss_count(bot: BankingBot) -> None:
    log = Log()
    assert only_say(await log.say(bot, "flibber")).kind == "fallback"
    assert only_say(await log.say(bot, "jabber")).kind == "fallback"
    assert only_say(await log.say(bot, "what is the limit for contactless")).kind == "answer"
    assert only_say(await log.say(bot, "flibber")).kind == "fallback"
    assert only_say(await log.say(bot, "jabber")).kind == "fallback"


async def test_a_handover_resets_the_miss_count(bot: BankingBot) -> None:
    log = Log()
    log.bot("fallback")
    log.customer("flibber")
    log.bot("clarify", suggestions=["Card PIN", "Card declined"])
    log.handler_changed("bot", "queue", "escalation")
    log.handler_changed("queue", "agent:bob", "assigned")
    log.handler_changed("agent:bob", "bot", "handback")
    assert only_say(await log.say(bot, "jabber")).kind == "fallback"


@pytest.mark.parametrize(("limit", "misses_before_escalation"), [(0, 0), (1, 1), (3, 3)])
async def test_max_misunderstandings_is_honoured(
    knowledge: KnowledgeBase, limit: int, misses_before_escalation: int
) -> None:
    bot = BankingBot(knowledge, max_misunderstandings=limit)
    log = Log()
    for _ in range(misses_before_escalation):
        assert only_say(await log.say(bot, "flibber")).kind == "fallback"
    _, escalate = escalation(await log.say(bot, "flibber"))
    assert escalate.reason == "not_understood"


async def test_the_bot_keeps_no_state_between_conversations(bot: BankingBot) -> None:
    struggling = Log()
    struggling.bot("fallback")
    struggling.bot("fallback")
    fresh = Log()
    # Interleave: the second conversation must not inherit the first one's misses.
    assert len(await bot.reply(struggling.customer("flibber"), "flibber")) == 2
    assert only_say(await bot.reply(fresh.customer("flibber"), "flibber")).kind == "fallback"
    assert len(await bot.reply(struggling.events, "flibber")) == 2


async def test_clicking_an_offered_suggestion_picks_that_entry(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    log = Log()
    clarify = only_say(await log.say(bot, "card"))
    chosen = clarify.suggestions[1]
    say = only_say(await log.say(bot, f"  {chosen.upper()} "))
    entry = knowledge.by_title(chosen)
    assert entry is not None
    assert (say.kind, say.intent) == ("answer", entry.intent)


async def test_an_offered_title_wins_even_where_retrieval_would_hesitate() -> None:
    # Both titles tokenize to "card": retrieval alone cannot tell them apart.
    knowledge = parse_knowledge(
        {
            "bot": {
                "greeting": "Hi.",
                "returning_greeting": "Back.",
                "fallback": "Sorry?",
                "clarify": "Did you mean {options}?",
                "escalating_not_understood": "Passing you on.",
                "popular": ["cards", "card"],
            },
            "entries": [
                {
                    "id": "card",
                    "intent": "a",
                    "title": "Card",
                    "questions": ["x"],
                    "answer": "A.",
                },
                {
                    "id": "cards",
                    "intent": "b",
                    "title": "Cards",
                    "questions": ["y"],
                    "answer": "B.",
                },
            ],
        }
    )
    bot = BankingBot(knowledge)
    assert only_say(await Log().say(bot, "Cards")).kind == "clarify"
    log = Log()
    log.record(await bot.greet(log.events, returning=False))
    say = only_say(await log.say(bot, "Cards"))
    assert (say.kind, say.intent, say.text) == ("answer", "b", "B.")


async def test_a_suggested_escalation_escalates(bot: BankingBot) -> None:
    log = Log()
    log.bot("answer", suggestions=["Report fraud"])
    _, escalate = escalation(await log.say(bot, "Report fraud"))
    assert escalate.reason == "sensitive_intent"


async def test_summary_and_routing_follow_what_was_answered(
    bot: BankingBot, knowledge: KnowledgeBase
) -> None:
    log = Log()
    log.record(await bot.greet(log.events, returning=False))
    assert only_say(await log.say(bot, "I forgot my PIN number")).kind == "answer"
    assert only_say(await log.say(bot, "and why was my card refused at the till")).kind == "answer"
    _, escalate = escalation(await log.say(bot, "this isn't helping, get me a real person"))
    declined = knowledge.by_id("card_declined")
    assert escalate.reason == "customer_request"
    # The person who takes over is from the team of the last topic.
    assert (escalate.intent, escalate.queue) == (declined.intent, "cards")
    assert escalate.summary == (
        "Customer asked about Card PIN and Card declined; then asked for a person: "
        "'this isn't helping, get me a real person'."
    )
    assert escalate.transcript[0] == ("bot", knowledge.texts.greeting)
    assert escalate.transcript[-1] == (CUSTOMER, "this isn't helping, get me a real person")
    assert [actor for actor, _ in escalate.transcript].count("bot") == 3


async def test_transcript_keeps_the_last_twenty_messages(bot: BankingBot) -> None:
    log = Log()
    for n in range(15):
        log.customer(f"message {n}")
        log.bot("answer", text=f"reply {n}")
    _, escalate = escalation(await log.say(bot, "talk to an agent"))
    assert len(escalate.transcript) == 20
    assert escalate.transcript[0] == ("bot", "reply 5")
    assert escalate.transcript[-1] == (CUSTOMER, "talk to an agent")


async def test_summary_quotes_long_messages_shortened(bot: BankingBot) -> None:
    text = "I want to speak to a human " + "because this is urgent " * 20
    _, escalate = escalation(await Log().say(bot, text))
    assert len(escalate.summary) < 200
    assert escalate.summary.endswith("…'.")


@pytest.mark.parametrize(
    "kwargs",
    [{"answer_threshold": 0}, {"margin": 1.0}, {"margin": -0.1}, {"max_misunderstandings": -1}],
)
def test_bad_settings_are_refused(knowledge: KnowledgeBase, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BankingBot(knowledge, **kwargs)
