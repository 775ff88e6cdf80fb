"""The shipped knowledge base, and the loader's refusal of broken knowledge files."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from handoff.bot.knowledge import KnowledgeBase, load_knowledge, parse_knowledge

TOPICS_REQUIRED = {
    "accounts.balance",
    "cards.lost_stolen",
    "cards.freeze",
    "cards.pin",
    "cards.declined",
    "payments.transfer_limits",
    "payments.transfer_status",
    "payments.international_fees",
    "accounts.fees",
    "payments.exchange_rates",
    "branches.hours",
    "branches.locator",
    "digital.app_login",
    "digital.password_reset",
    "digital.app_install",
    "payments.direct_debits",
    "payments.standing_orders",
    "accounts.statements",
    "accounts.open",
    "accounts.close",
    "cards.contactless",
    "cards.cash_withdrawal_limit",
    "lending.mortgage",
    "lending.overdraft",
    "accounts.interest_rates",
    "accounts.personal_details",
    "payments.cheque_deposit",
}


@pytest.fixture(scope="module")
def shipped() -> KnowledgeBase:
    return load_knowledge()


def minimal() -> dict[str, Any]:
    """A valid document to break one field at a time."""
    return {
        "bot": {
            "greeting": "Hello.",
            "returning_greeting": "Welcome back.",
            "fallback": "Sorry?",
            "clarify": "Did you mean {options}?",
            "escalating_not_understood": "A colleague will join.",
            "popular": ["pin"],
        },
        "entries": [
            {
                "id": "pin",
                "intent": "cards.pin",
                "title": "Card PIN",
                "questions": ["I forgot my PIN"],
                "answer": "See the app.",
                "follow_ups": ["Talk to a person"],
            },
            {
                "id": "human",
                "intent": "handoff.human",
                "title": "Talk to a person",
                "questions": ["agent"],
                "answer": "A colleague will join.",
                "action": "escalate",
            },
        ],
    }


def test_shipped_knowledge_covers_the_retail_topics(shipped: KnowledgeBase) -> None:
    assert len(shipped.entries) >= 25
    intents = {entry.intent for entry in shipped.entries}
    assert intents >= TOPICS_REQUIRED


def test_shipped_entries_are_well_formed(shipped: KnowledgeBase) -> None:
    for entry in shipped.entries:
        assert len(entry.questions) >= 5, entry.id
        sentences = len(re.findall(r"[.!?](\s|$)", entry.answer))
        assert 2 <= sentences <= 4, entry.id
        assert len(entry.follow_ups) <= 3, entry.id
        assert entry.queue, entry.id


def test_shipped_escalations(shipped: KnowledgeBase) -> None:
    human = shipped.by_id("human")
    fraud = shipped.by_id("fraud")
    complaint = shipped.by_id("complaint")
    assert (human.action, human.sensitive) == ("escalate", False)
    assert (fraud.action, fraud.sensitive, fraud.queue) == ("escalate", True, "fraud")
    assert (complaint.action, complaint.sensitive, complaint.queue) == (
        "escalate",
        True,
        "complaints",
    )
    assert fraud.priority == max(entry.priority for entry in shipped.entries)
    assert fraud.priority > max(e.priority for e in shipped.entries if e is not fraud)


def test_shipped_texts_and_popular_topics(shipped: KnowledgeBase) -> None:
    texts = shipped.texts
    assert "{options}" in texts.clarify
    assert texts.greeting != texts.returning_greeting
    assert len(shipped.popular) >= 3


def test_load_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "kb.toml"
    path.write_text(
        '[bot]\ngreeting = "Hi"\nreturning_greeting = "Back"\nfallback = "Eh?"\n'
        'clarify = "{options}?"\nescalating_not_understood = "Person"\n'
        '[[entries]]\nid = "a"\nintent = "x.a"\ntitle = "A"\nquestions = ["q"]\n'
        'answer = "A."\n',
        encoding="utf-8",
    )
    knowledge = load_knowledge(path)
    entry = knowledge.by_id("a")
    assert (entry.action, entry.sensitive, entry.queue, entry.priority) == (
        "answer",
        False,
        "general",
        0,
    )
    assert entry.follow_ups == ()


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.toml: not valid TOML"):
        load_knowledge(path)


def test_the_minimal_document_is_valid() -> None:
    knowledge = parse_knowledge(minimal())
    assert [e.id for e in knowledge.entries] == ["pin", "human"]


def _broken(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(minimal())
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["entries"].append(dict(d["entries"][0])), "duplicate id 'pin'"),
        (
            lambda d: d["entries"][1].update(intent="cards.pin"),
            "duplicate intent 'cards.pin'",
        ),
        (lambda d: d["entries"][1].update(title="card pin"), "duplicate title"),
        (lambda d: d["entries"][0].pop("answer"), "entry 'pin': missing field 'answer'"),
        (lambda d: d["entries"][0].pop("id"), "entry #1: missing field 'id'"),
        (lambda d: d["entries"][0].update(questions=[]), "entry 'pin' questions: must not be"),
        (lambda d: d["entries"][0].pop("questions"), "missing field 'questions'"),
        (lambda d: d["entries"][0].update(questions=["ok", " "]), "non-empty string"),
        (lambda d: d["entries"][0].update(title=""), "entry 'pin' title: must be a non-empty"),
        (lambda d: d["entries"][0].update(action="panic"), "must be 'answer' or 'escalate'"),
        (lambda d: d["entries"][0].update(sensitive=True), "sensitive entry must have action"),
        (lambda d: d["entries"][0].update(sensitive="yes"), "sensitive: must be true or false"),
        (lambda d: d["entries"][0].update(priority="high"), "priority: must be an integer"),
        (lambda d: d["entries"][0].update(colour="red"), "unknown field(s) colour"),
        (
            lambda d: d["entries"][0].update(follow_ups=["Nowhere"]),
            "'Nowhere' is not the title of any entry",
        ),
        (lambda d: d["entries"][0].update(follow_ups=["Card PIN"]), "suggests itself"),
        (lambda d: d["bot"].update(popular=["nope"]), "no entry with id 'nope'"),
        (lambda d: d["bot"].update(clarify="Did you mean?"), "must contain '{options}'"),
        (lambda d: d["bot"].pop("fallback"), "[bot]: missing field 'fallback'"),
        (lambda d: d.pop("bot"), "missing [bot] table"),
        (lambda d: d.update(entries=[]), "has no entries"),
    ],
)
def test_validation_errors_are_clear(change: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_knowledge(_broken(change))


def test_errors_from_a_file_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.toml"
    path.write_text(
        '[bot]\ngreeting = "Hi"\nreturning_greeting = "Back"\nfallback = "Eh?"\n'
        'clarify = "{options}?"\nescalating_not_understood = "Person"\n'
        '[[entries]]\nid = "a"\nintent = "x.a"\ntitle = "A"\nquestions = []\nanswer = "A."\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"kb\.toml: entry 'a' questions: must not be empty"):
        load_knowledge(path)
