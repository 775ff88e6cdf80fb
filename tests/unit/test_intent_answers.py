"""The shipped BANKING77 answers, and the loader's refusal of broken answer files."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from handoff.understanding.answers import (
    MAX_PRIORITY,
    SELF_SERVICE_TASKS,
    SKILLS,
    IntentAnswer,
    find_by_title,
    load_answers,
    parse_answers,
)

ROOT = Path(__file__).resolve().parents[2]
_CATEGORIES_IN_REPO = ROOT / "handoff" / "understanding" / "data" / "banking77" / "categories.json"
_CATEGORIES_SHARED = Path("/work/shared/datasets/banking77/categories.json")

# Fraud and disputes a person must handle at once, whatever else changes in the file.
MUST_BE_SENSITIVE = {
    "compromised_card",
    "card_payment_not_recognised",
    "cash_withdrawal_not_recognised",
    "direct_debit_payment_not_recognised",
}
# Queues with a specialist team behind them: a sensitive intent never waits in "general".
HUMAN_SKILLS = SKILLS - {"general"}
URGENT = 6


def banking77_intents() -> list[str]:
    for path in (_CATEGORIES_IN_REPO, _CATEGORIES_SHARED):
        if path.is_file():
            intents = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(intents, list)
            return [str(intent) for intent in intents]
    pytest.skip("BANKING77 categories.json not found")


@pytest.fixture(scope="module")
def shipped() -> Mapping[str, IntentAnswer]:
    return load_answers()


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](?=\s|$)", text))


def test_every_banking77_intent_has_an_answer_and_nothing_else(
    shipped: Mapping[str, IntentAnswer],
) -> None:
    intents = banking77_intents()
    assert len(intents) == 77
    assert set(shipped) - set(intents) == set(), "answers for intents BANKING77 doesn't have"
    assert set(intents) - set(shipped) == set(), "BANKING77 intents without an answer"


def test_answers_are_keyed_and_shaped(shipped: Mapping[str, IntentAnswer]) -> None:
    for intent, answer in shipped.items():
        assert answer.intent == intent
        assert 2 <= sentences(answer.answer) <= 5, intent
        assert len(answer.title) <= 60, intent
        assert 2 <= len(answer.follow_ups) <= 3, intent
        assert all(follow_up.strip() for follow_up in answer.follow_ups), intent


def test_follow_ups_lead_to_other_answers(shipped: Mapping[str, IntentAnswer]) -> None:
    for intent, answer in shipped.items():
        for follow_up in answer.follow_ups:
            target = find_by_title(shipped, follow_up)
            assert target is not None, (intent, follow_up)
            assert target.intent != intent


def test_sensitive_intents_go_to_a_specialist_queue_quickly(
    shipped: Mapping[str, IntentAnswer],
) -> None:
    assert {intent for intent, a in shipped.items() if a.sensitive} >= MUST_BE_SENSITIVE
    for intent, answer in shipped.items():
        if answer.sensitive:
            assert answer.skill in HUMAN_SKILLS, intent
            assert answer.priority >= URGENT, intent
            assert answer.self_service is None, intent
        if answer.skill == "fraud":
            assert answer.sensitive, intent


def test_lost_card_is_urgent_and_self_served(shipped: Mapping[str, IntentAnswer]) -> None:
    lost = shipped["lost_or_stolen_card"]
    assert lost.self_service == "report_lost_card"
    assert lost.priority >= 7
    fraud_priority = min(a.priority for a in shipped.values() if a.skill == "fraud")
    routine = [a for a in shipped.values() if not a.sensitive and a.intent != lost.intent]
    assert all(a.priority < fraud_priority for a in routine)
    assert max(a.priority for a in shipped.values()) <= MAX_PRIORITY


def test_self_service_and_skills_come_from_the_known_sets(
    shipped: Mapping[str, IntentAnswer],
) -> None:
    for answer in shipped.values():
        assert answer.self_service is None or answer.self_service in SELF_SERVICE_TASKS
        assert answer.skill in SKILLS
    assert shipped["pending_transfer"].self_service == "transfer_status"


def test_answers_stay_bank_neutral(shipped: Mapping[str, IntentAnswer]) -> None:
    # No invented prices or phone numbers: figures live on the fees page in the app.
    money = re.compile(r"[£$€]\s?\d|\d+\s?(?:%|percent|EUR|GBP|USD)\b", re.IGNORECASE)
    phone = re.compile(r"\+?\d[\d ()-]{6,}\d")
    for intent, answer in shipped.items():
        for text in (answer.title, answer.answer, *answer.follow_ups):
            assert not money.search(text), (intent, text)
            assert not phone.search(text), (intent, text)


def test_the_result_is_read_only(shipped: Mapping[str, IntentAnswer]) -> None:
    with pytest.raises(TypeError):
        shipped["new_intent"] = shipped["card_arrival"]  # type: ignore[index]


def test_find_by_title_ignores_case_and_spacing(shipped: Mapping[str, IntentAnswer]) -> None:
    found = find_by_title(shipped, "  when will MY card   arrive? ")
    assert found is not None
    assert found.intent == "card_arrival"
    assert find_by_title(shipped, "Something nobody asks") is None


# --- The loader refuses broken files --------------------------------------------------------


def minimal() -> dict[str, Any]:
    """A valid document to break one field at a time."""
    return {
        "card_arrival": {
            "title": "When will my card arrive?",
            "answer": "Follow it in the app. Ask for a person if it's late.",
            "follow_ups": ["I lost my card or it was stolen", "My card is compromised"],
            "sensitive": False,
            "skill": "cards",
            "priority": 3,
        },
        "lost_or_stolen_card": {
            "title": "I lost my card or it was stolen",
            "answer": "Freeze it in the app. Then report it lost.",
            "follow_ups": ["When will my card arrive?", "My card is compromised"],
            "self_service": "report_lost_card",
            "sensitive": False,
            "skill": "cards",
            "priority": 8,
        },
        "compromised_card": {
            "title": "My card is compromised",
            "answer": "A colleague will join now. Freeze your card meanwhile.",
            "follow_ups": ["When will my card arrive?", "I lost my card or it was stolen"],
            "sensitive": True,
            "skill": "fraud",
            "priority": 9,
        },
    }


def test_minimal_document_is_valid() -> None:
    answers = parse_answers(minimal())
    assert list(answers) == ["card_arrival", "lost_or_stolen_card", "compromised_card"]
    assert answers["card_arrival"].self_service is None
    assert answers["lost_or_stolen_card"].follow_ups == (
        "When will my card arrive?",
        "My card is compromised",
    )


@pytest.mark.parametrize(
    ("intent", "field", "value", "message"),
    [
        ("card_arrival", "title", "", "intent 'card_arrival' title: must be a non-empty string"),
        ("card_arrival", "answer", 42, "intent 'card_arrival' answer: must be a non-empty"),
        ("card_arrival", "follow_ups", "x", "intent 'card_arrival' follow_ups: must be a list"),
        (
            "card_arrival",
            "follow_ups",
            ["My card is compromised"],
            "intent 'card_arrival' follow_ups: must have 2 to 3 items, not 1",
        ),
        (
            "card_arrival",
            "follow_ups",
            ["My card is compromised", ""],
            "intent 'card_arrival' follow_ups item 2: must be a non-empty string",
        ),
        (
            "card_arrival",
            "follow_ups",
            ["My card is compromised", "my card is  COMPROMISED"],
            "intent 'card_arrival' follow_ups: lists the same suggestion twice",
        ),
        (
            "card_arrival",
            "follow_ups",
            ["My card is compromised", "Where is the nearest branch?"],
            "intent 'card_arrival' follow_ups: 'Where is the nearest branch?' is not the title",
        ),
        (
            "card_arrival",
            "follow_ups",
            ["My card is compromised", "When will my card arrive?"],
            "intent 'card_arrival' follow_ups: suggests itself",
        ),
        (
            "card_arrival",
            "self_service",
            "order_pizza",
            "intent 'card_arrival' self_service: must be one of",
        ),
        ("card_arrival", "sensitive", "yes", "intent 'card_arrival' sensitive: must be true"),
        ("card_arrival", "skill", "loans", "intent 'card_arrival' skill: must be one of"),
        ("card_arrival", "priority", 10, "intent 'card_arrival' priority: must be an integer"),
        ("card_arrival", "priority", -1, "intent 'card_arrival' priority: must be an integer"),
        ("card_arrival", "priority", True, "intent 'card_arrival' priority: must be an integer"),
        ("card_arrival", "priority", "high", "intent 'card_arrival' priority: must be an integer"),
        (
            "compromised_card",
            "self_service",
            "freeze_card",
            "intent 'compromised_card' self_service: a sensitive intent goes to a person",
        ),
        (
            "compromised_card",
            "title",
            "when will my card ARRIVE?",
            "intent 'compromised_card' title: 'when will my card ARRIVE?' is already the title",
        ),
    ],
)
def test_a_broken_field_is_named(intent: str, field: str, value: Any, message: str) -> None:
    document = copy.deepcopy(minimal())
    document[intent][field] = value
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_answers(document)


@pytest.mark.parametrize(
    "field", ["title", "answer", "follow_ups", "sensitive", "skill", "priority"]
)
def test_a_missing_field_is_named(field: str) -> None:
    document = copy.deepcopy(minimal())
    del document["card_arrival"][field]
    with pytest.raises(
        ValueError, match=re.escape(f"intent 'card_arrival': missing field(s) {field}")
    ):
        parse_answers(document)


def test_an_unknown_field_is_named() -> None:
    document = copy.deepcopy(minimal())
    document["card_arrival"]["queue"] = "cards"
    with pytest.raises(
        ValueError, match=re.escape("intent 'card_arrival': unknown field(s) queue")
    ):
        parse_answers(document)


def test_a_non_table_intent_and_an_empty_file_are_refused() -> None:
    document: dict[str, Any] = copy.deepcopy(minimal())
    document["card_arrival"] = "see the app"
    with pytest.raises(ValueError, match=re.escape("intent 'card_arrival': must be a table")):
        parse_answers(document)
    with pytest.raises(ValueError, match="no intents"):
        parse_answers({})


def test_load_answers_names_the_file_and_the_intent(tmp_path: Path) -> None:
    broken = tmp_path / "answers.toml"
    broken.write_text(
        "[card_arrival]\n"
        'title = "When will my card arrive?"\n'
        'answer = "Follow it in the app. Ask for a person if late."\n'
        'follow_ups = ["A", "B"]\n'
        "sensitive = false\n"
        'skill = "cards"\n'
        'priority = "urgent"\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"answers\.toml: intent 'card_arrival' priority") as exc:
        load_answers(broken)
    assert str(broken) in str(exc.value)


def test_load_answers_refuses_invalid_toml_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[card_arrival\ntitle = 'x'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_answers(bad)
    with pytest.raises(ValueError, match="cannot read"):
        load_answers(tmp_path / "missing.toml")


def test_load_answers_reads_a_given_file(tmp_path: Path) -> None:
    good = tmp_path / "answers.toml"
    good.write_text(
        "[card_arrival]\n"
        'title = "When will my card arrive?"\n'
        'answer = "Follow it in the app. Ask for a person if late."\n'
        'follow_ups = ["I lost my card", "Where can I use my card?"]\n'
        "sensitive = false\n"
        'skill = "cards"\n'
        "priority = 3\n"
        "\n"
        "[lost_or_stolen_card]\n"
        'title = "I lost my card"\n'
        'answer = "Freeze it in the app. Then report it lost."\n'
        'follow_ups = ["When will my card arrive?", "Where can I use my card?"]\n'
        'self_service = "report_lost_card"\n'
        "sensitive = false\n"
        'skill = "cards"\n'
        "priority = 8\n"
        "\n"
        '["card_acceptance"]\n'
        'title = "Where can I use my card?"\n'
        'answer = "Wherever the logo is shown. Check the app if declined."\n'
        'follow_ups = ["I lost my card", "When will my card arrive?"]\n'
        "sensitive = false\n"
        'skill = "general"\n'
        "priority = 0\n",
        encoding="utf-8",
    )
    answers = load_answers(good)
    assert answers["lost_or_stolen_card"].self_service == "report_lost_card"
    assert answers["card_acceptance"].priority == 0
