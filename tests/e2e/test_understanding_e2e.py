"""The bot with its intent model, through the chat protocol: self-service tasks against
the demo bank, clarifying questions, sensitive intents handed to a person with what was
understood; and `POST /api/v1/understand`."""

from __future__ import annotations

import re
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway import understanding as understanding_runtime
from handoff.understanding.answers import load_answers
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client
from tests.e2e.understanding_helpers import (
    accept_offer,
    connect,
    escalated,
    event_types,
    post_json,
    ready,
    ready_server,
    say,
    start_chat,
    start_warming_server,
)

ANSWERS = load_answers()
TITLES = {answer.title for answer in ANSWERS.values()}
ALICE_DEBIT = "Visa debit ending 1234"
ALICE_CREDIT = "Mastercard credit ending 5678"
NOTHING_CHANGED = "OK, I won't go ahead: nothing has been changed."


# -- self-service ------------------------------------------------------------------------


async def test_freeze_asks_which_card_a_no_changes_nothing_then_freeze_and_unfreeze(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")

    # Alice has two active cards: the bot asks which, offering both.
    asked = await say(alice, cid, "freeze my card")
    assert asked.kind == "task" and asked.data["intent"] == "freeze_card"
    assert asked.text == f"Which card would you like to freeze: {ALICE_DEBIT} or {ALICE_CREDIT}?"
    assert asked.data["suggestions"] == [ALICE_DEBIT, ALICE_CREDIT]
    assert asked.data["flow"] == {
        "flow": "freeze_card",
        "slots": {},
        "awaiting": "card",
        "attempts": 0,
    }

    # Clicking one fills the slot; a freeze is confirmed first.
    chosen = await say(alice, cid, ALICE_DEBIT)
    assert chosen.kind == "task"
    assert chosen.text.startswith(f"I'll freeze your {ALICE_DEBIT}")
    assert chosen.text.endswith("Shall I go ahead?")
    assert chosen.data["suggestions"] == ["Yes", "No"]
    assert chosen.data["flow"]["awaiting"] == "confirm"
    assert chosen.data["flow"]["slots"]["card"]["last4"] == "1234"
    assert chosen.data["flow"]["slots"]["card"]["status"] == "active"

    # "No" at the confirmation: nothing is done and the flow is over.
    refused = await say(alice, cid, "no")
    assert refused.text.startswith(NOTHING_CHANGED), refused.text
    assert refused.kind == "task_done" and "flow" not in refused.data
    assert refused.tasks == []
    assert "task.completed" not in event_types(alice, cid)

    # Naming the card outright skips the question; the card is still active (had the
    # refusal frozen it, the bot would now say it is already frozen).
    again = await say(alice, cid, "freeze my card ending 1234")
    assert again.data["understood"]["slots"][0]["value"] == {"product": None, "last4": "1234"}
    assert again.data["flow"]["awaiting"] == "confirm"
    assert again.data["flow"]["slots"]["card"]["status"] == "active"
    done = await say(alice, cid, "yes")
    assert done.kind == "task_done" and done.data["intent"] == "freeze_card"
    assert done.text.startswith(f"Done: your {ALICE_DEBIT} is frozen")
    (task,) = done.tasks
    assert task["flow"] == "freeze_card" and task["action"] == "freeze_card" and task["ok"] is True
    assert task["slots"]["card"]["id"] == "card-alice-debit"
    assert task["result"] == {"card_id": "card-alice-debit", "status": "frozen"}
    # The task is logged before the bot says it is done.
    assert [e["type"] for e in done.events] == ["task.completed", "message.sent"]

    # Unfreezing needs no question: only one of her cards is frozen.
    unfreeze = await say(alice, cid, "unfreeze my card")
    assert (
        unfreeze.text
        == f"I'll unfreeze your {ALICE_DEBIT} so it can be used again. Shall I go ahead?"
    )
    assert unfreeze.data["flow"]["slots"]["card"]["status"] == "frozen"
    back = await say(alice, cid, "yes please")
    assert back.text == f"Done: your {ALICE_DEBIT} is unfrozen and ready to use again."
    (task,) = back.tasks
    assert task["flow"] == "unfreeze_card" and task["ok"] is True
    assert task["result"] == {"card_id": "card-alice-debit", "status": "active"}
    assert event_types(alice, cid).count("task.completed") == 2


async def test_a_lost_card_is_blocked_and_a_replacement_ordered(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")

    asked = await say(alice, cid, "I lost my card")
    assert asked.data["understood"]["intent"] == "lost_or_stolen_card"
    assert asked.data["intent"] == "report_lost_card"
    assert asked.text == f"Which card is lost or stolen: {ALICE_DEBIT} or {ALICE_CREDIT}?"
    confirm = await say(alice, cid, "the credit card")
    assert confirm.text.startswith(f"I'll report your {ALICE_CREDIT} as lost or stolen")
    assert "replacement" in confirm.text
    done = await say(alice, cid, "yes")
    (task,) = done.tasks
    assert task["flow"] == "report_lost_card" and task["action"] == "report_lost_card"
    assert task["ok"] is True and task["slots"]["card"]["id"] == "card-alice-credit"
    result = task["result"]
    assert result["card_id"] == "card-alice-credit"
    assert re.fullmatch(r"RO-\d{6}", result["order_id"]), result
    assert date.fromisoformat(result["delivery_estimate"]) > date.today()
    assert done.text.startswith(f"Done: your {ALICE_CREDIT} is blocked for good")
    assert f"(order {result['order_id']})" in done.text

    # The bank now has the card as lost: freezing it is pointless and says so.
    blocked = await say(alice, cid, "freeze my credit card")
    assert blocked.text == (
        f"Your {ALICE_CREDIT} was reported lost or stolen, so it is already blocked for good."
    )
    assert blocked.tasks == []
    assert event_types(alice, cid).count("task.completed") == 1


async def test_balance_transfer_status_and_card_limit(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")

    # Balance: read-only, so it acts as soon as it knows the account, without a "yes".
    asked = await say(alice, cid, "what is my balance")
    assert asked.data["intent"] == "balance" and asked.data["flow"]["awaiting"] == "account"
    assert asked.data["suggestions"] == ["Current account (EUR)", "Savings account (EUR)"]
    balance = await say(alice, cid, "savings")
    assert balance.text == "The balance of your savings account is 10,200.00 EUR."
    (task,) = balance.tasks
    assert task["flow"] == "balance" and task["ok"] is True
    assert task["result"] == {
        "account_id": "acc-alice-savings",
        "amount": "10200.00",
        "currency": "EUR",
    }

    # A transfer by its reference: answered at once.
    status = await say(alice, cid, "where is my transfer TR-1001")
    (task,) = status.tasks
    assert task["flow"] == "transfer_status" and task["slots"] == {"transfer_ref": "TR-1001"}
    assert task["result"]["status"] == "pending" and task["result"]["recipient"] == "Jane Doe"
    assert status.text.startswith("Your transfer TR-1001 of 250.00 EUR to Jane Doe")
    assert status.text.endswith(
        "is still being processed. You'll see it as completed once it has gone through."
    )
    # Without one, the bot lists her recent transfers; clicking one answers it.
    which = await say(alice, cid, "check my transfer")
    assert which.data["flow"]["awaiting"] == "transfer_ref"
    failed = next(s for s in which.data["suggestions"] if s.startswith("TR-1003"))
    assert failed == "TR-1003: 75.50 EUR to Tom Becker"
    news = await say(alice, cid, failed)
    (task,) = news.tasks
    assert task["slots"] == {"transfer_ref": "TR-1003"} and task["result"]["status"] == "failed"
    assert "failed, so the money was not sent" in news.text

    # A card limit: which card, then how much, then yes.
    limit = await say(alice, cid, "raise my card limit")
    assert limit.data["intent"] == "card_limit" and limit.data["flow"]["awaiting"] == "card"
    amount = await say(alice, cid, "5678")
    assert amount.text == (
        f"What would you like the new daily limit of your {ALICE_CREDIT} to be? "
        "It's 3,000.00 EUR at the moment."
    )
    confirm = await say(alice, cid, "4000")
    assert confirm.text == (
        f"I'll change the daily limit of your {ALICE_CREDIT} from 3,000.00 EUR to 4,000.00 EUR. "
        "Shall I go ahead?"
    )
    done = await say(alice, cid, "yes")
    (task,) = done.tasks
    assert task["flow"] == "card_limit" and task["action"] == "set_card_limit"
    assert task["slots"]["amount"] == {"value": "4000.00", "currency": "EUR"}
    assert task["result"] == {
        "card_id": "card-alice-credit",
        "daily_limit": "4000.00",
        "currency": "EUR",
    }
    assert done.text == f"Done: the daily limit of your {ALICE_CREDIT} is now 4,000.00 EUR."
    assert event_types(alice, cid).count("task.completed") == 4


async def test_cancel_mid_flow_stops_it_and_changes_nothing(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")

    await say(alice, cid, "raise my card limit")
    asked = await say(alice, cid, "5678")
    assert asked.data["flow"]["awaiting"] == "amount"
    stopped = await say(alice, cid, "cancel")
    assert stopped.text == (
        "OK, I've stopped there. Nothing has been changed. What else can I help you with?"
    )
    assert stopped.kind == "task_done" and "flow" not in stopped.data
    assert stopped.tasks == []

    # The flow is gone: a bare amount now is not a limit; and the limit is unchanged.
    await say(alice, cid, "raise my card limit")
    again = await say(alice, cid, "5678")
    assert again.text.endswith("It's 3,000.00 EUR at the moment.")
    # A cancel while the bot waits for a yes works the same.
    await say(alice, cid, "4500")
    cancelled = await say(alice, cid, "never mind")
    assert cancelled.text.startswith("OK, I've stopped there. Nothing has been changed.")
    await say(alice, cid, "raise my card limit")
    unchanged = await say(alice, cid, "5678")
    assert unchanged.text.endswith("It's 3,000.00 EUR at the moment.")
    assert "task.completed" not in event_types(alice, cid)


# -- clarifying questions ----------------------------------------------------------------


async def test_an_ambiguous_message_gets_intent_titles_and_a_click_answers(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory, understanding_threshold=0.6)
    alice, cid = await start_chat(server, clients, "alice")

    unsure = await say(alice, cid, "payment")
    assert unsure.kind == "clarify", unsure.data
    assert unsure.data["understood"]["confidence"] < 0.6
    suggestions = unsure.data["suggestions"]
    assert 2 <= len(suggestions) <= 3 and len(set(suggestions)) == len(suggestions)
    assert set(suggestions) <= TITLES, suggestions
    for title in suggestions:
        assert f'"{title}"' in unsure.text
    # The likeliest intent first; which one the model ranks first for a bare "payment"
    # is the model's business. A click on a non-sensitive one is answered.
    by_title = {answer.title: answer for answer in ANSWERS.values()}
    assert by_title[suggestions[0]].intent == unsure.data["understood"]["intent"]
    chosen = next(by_title[t] for t in suggestions if not by_title[t].sensitive)

    clicked = await say(alice, cid, chosen.title)
    assert clicked.kind == "answer"
    assert clicked.data["intent"] == chosen.intent
    assert clicked.text == chosen.answer
    assert clicked.data["suggestions"] == list(chosen.follow_ups)
    assert "handler.changed" not in [e["type"] for e in clicked.events]


# -- escalation with what was understood -------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "text", "intent", "slots"),
    [
        (
            "chen",
            "I have a card payment of 45.20 EUR from a merchant I don't know",
            "card_payment_not_recognised",
            {"amount_of_money": {"amount": "45.2", "currency": "EUR"}},
        ),
        (
            "bob",
            "I think my card ending 4321 has been compromised",
            "compromised_card",
            {"card": {"product": None, "last4": "4321"}},
        ),
    ],
)
async def test_a_sensitive_intent_goes_to_the_fraud_queue_with_intent_and_slots(
    server_factory: ServerFactory,
    clients: list[Client],
    customer: str,
    text: str,
    intent: str,
    slots: dict[str, Any],
) -> None:
    server = await ready_server(server_factory)
    client, cid = await start_chat(server, clients, customer)
    anna = await connect(server, clients, "anna")
    await ready(anna)

    turn = await say(client, cid, text)
    assert turn.kind == "escalating" and turn.data["intent"] == intent
    assert turn.text == ANSWERS[intent].answer
    understood = turn.data["understood"]
    assert understood["intent"] == intent and understood["confidence"] >= 0.6
    switch = await escalated(client, cid, turn.reply["seq"] - 1)
    assert switch["seq"] == turn.reply["seq"] + 1
    assert switch["data"]["from"] == "bot" and switch["data"]["reason"] == "escalation"
    context = switch["data"]["context"]
    assert context["reason"] == "sensitive_intent"
    assert context["intent"] == intent
    assert context["slots"] == slots
    assert context["queue"] == "fraud" and context["priority"] == 9
    assert context["confidence"] == understood["confidence"]
    assert {"actor": f"customer:{customer}", "text": text} in context["transcript"]

    offer = await accept_offer(anna, client, cid)
    assert offer["context"]["intent"] == intent
    assert offer["context"]["slots"] == slots
    assert offer["context"]["queue"] == "fraud"


async def test_someone_used_my_card_carries_the_understood_intent_and_card(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    chen, cid = await start_chat(server, clients, "chen")
    turn = await say(chen, cid, "someone used my card ending 1357 without my permission")
    assert turn.kind == "escalating"
    context = (await escalated(chen, cid, turn.seq))["data"]["context"]
    assert context["queue"] == "fraud"
    assert context["intent"] == "compromised_card"
    assert context["slots"]["card"]["last4"] == "1357"


# -- POST /api/v1/understand -------------------------------------------------------------


async def test_understand_api_checks_its_caller_and_body_then_answers(
    server_factory: ServerFactory,
) -> None:
    server = await ready_server(server_factory)
    token = (await server.login("alice"))["token"]
    path = "/api/v1/understand"

    status, body = await post_json(server, path, {"text": "I lost my card"})
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = await post_json(server, path, {"text": "I lost my card"}, "not-a-jwt")
    assert status == 401 and body["error"]["code"] == "unauthorized"

    bad: list[tuple[Any, str]] = [
        ({}, "text: Field required"),
        ({"text": ""}, "text:"),
        ({"text": "x" * 1001}, "text: String should have at most 1000 characters"),
        ({"text": "lost\x00card"}, "NUL"),
        ({"text": "I lost my card", "language": "en"}, "language: unknown field"),
        ({"text": 42}, "text:"),
        (["I lost my card"], "payload: must be a JSON object"),
    ]
    for payload, message in bad:
        status, body = await post_json(server, path, payload, token)
        assert status == 400, (payload, body)
        assert body["error"]["code"] == "invalid_payload", body
        assert message in body["error"]["message"], (payload, body)
    status, body = await post_json(server, path, b"{not json", token, raw=True)
    assert status == 400 and body["error"]["code"] == "invalid_payload"

    before = date.today()
    text = "I lost my card yesterday"
    status, body = await post_json(server, path, {"text": text}, token)
    assert status == 200, body
    assert set(body) == {"intent", "confidence", "alternatives", "slots"}
    assert body["intent"] == "lost_or_stolen_card" and body["confidence"] > 0.9
    assert 1 <= len(body["alternatives"]) <= 3
    for alternative in body["alternatives"]:
        assert set(alternative) == {"intent", "confidence"}
        assert alternative["intent"] in ANSWERS and alternative["intent"] != body["intent"]
        assert 0 <= alternative["confidence"] <= body["confidence"]
    (slot,) = body["slots"]
    assert slot["name"] == "date" and slot["text"] == "yesterday"
    yesterdays = {(day - timedelta(days=1)).isoformat() for day in (before, date.today())}
    assert slot["value"] in yesterdays
    start, end = slot["span"]
    assert text[start:end] == "yesterday"

    text = "send 200 EUR to John"
    status, body = await post_json(server, path, {"text": text}, token)
    assert status == 200, body
    money = [s for s in body["slots"] if s["name"] == "amount_of_money"]
    assert money == [
        {
            "name": "amount_of_money",
            "text": "200 EUR",
            "value": {"amount": "200", "currency": "EUR"},
            "span": [5, 12],
        }
    ]
    assert text[5:12] == "200 EUR"

    # Agents may ask too (any valid token).
    agent = (await server.login("anna"))["token"]
    status, body = await post_json(server, path, {"text": "What is the exchange rate?"}, agent)
    assert status == 200 and body["intent"] == "exchange_rate"


async def test_understand_api_answers_warming_up_until_the_model_is_loaded(
    server_factory: ServerFactory, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    original = understanding_runtime.Understanding.load

    def held_load(cache_dir: Path | None = None, **kwargs: Any) -> Any:
        assert gate.wait(10), "the test never released the model"
        return original(cache_dir, **kwargs)

    monkeypatch.setattr(understanding_runtime.Understanding, "load", held_load)
    server = await start_warming_server()
    try:
        try:
            token = (await server.login("alice"))["token"]
            status, body = await post_json(server, "/api/v1/understand", {"text": "hi"}, token)
            assert status == 503 and body["error"]["code"] == "warming_up", body
            assert not server.services.understanding.ready
            # Meanwhile the bot answers from its knowledge search (nothing understood).
            alice, cid = await start_chat(server, clients, "alice")
            turn = await say(alice, cid, "What time do your branches open on Saturday?")
            assert turn.kind == "answer" and "understood" not in turn.data
        finally:
            gate.set()
        assert await server.services.understanding.wait_ready()
        status, body = await post_json(server, "/api/v1/understand", {"text": "hi"}, token)
        assert status == 200 and body["intent"], body
        later = await say(alice, cid, "I lost my card yesterday")
        assert later.data["understood"]["intent"] == "lost_or_stolen_card"
    finally:
        for client in clients:
            await client.close()
        clients.clear()
        await server.runner.cleanup()


async def test_asking_for_a_person_after_a_topic_goes_to_that_topics_queue(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")
    turn = await say(alice, cid, "my card still hasn't arrived, when will it come?")
    assert turn.kind == "answer"
    await alice.command("agent.request", conversation_id=cid)
    switched = await alice.wait_event(
        cid, lambda e: e["type"] == "handler.changed" and e["data"]["to"] == "queue"
    )
    context = switched["data"]["context"]
    assert context["intent"] == "card_arrival"
    assert (context["queue"], context["priority"]) == ("cards", 3)
