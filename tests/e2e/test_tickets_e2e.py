"""Tickets through the agent protocol: `ticket.draft` pre-filled from what the bot
understood and did, `ticket.file` appending `ticket.filed`, who may do either, and the
optional LLM (a fake OpenAI-compatible server) polishing the draft, or timing out."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.understanding_helpers import (
    accept_offer,
    connect,
    escalated,
    log_of,
    ready,
    ready_server,
    say,
    start_chat,
)
from tests.fakes.openai_server import FakeOpenAI

DISPUTE = "I have a card payment of 45.20 EUR from a merchant I don't know"
WHICH_CARD = "It was taken from my card ending 1357 yesterday"
LLM_SUMMARY = (
    "The customer disputes a card payment of 45.20 EUR to a merchant they do not know. "
    "The agent is looking into it with the fraud team."
)


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeOpenAI]:
    """Listed before `server_factory` in a test, so the servers stop first."""
    fake = FakeOpenAI(api_key="sk-test")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def fraud_case(server: RunningServer, clients: list[Client]) -> tuple[Client, Client, str]:
    """Chen disputes a payment; the bot hands her to the fraud queue; Anna takes her and
    asks which card; Chen says (the bot never sees this one: Anna serves her)."""
    chen, cid = await start_chat(server, clients, "chen")
    anna = await connect(server, clients, "anna")
    await ready(anna)
    turn = await say(chen, cid, DISPUTE)
    assert turn.kind == "escalating"
    await escalated(chen, cid, turn.seq)
    await accept_offer(anna, chen, cid)
    await anna.command("message.send", conversation_id=cid, text="Hello Chen, which card was it?")
    said = await chen.command("message.send", conversation_id=cid, text=WHICH_CARD)
    await anna.wait_event(cid, lambda e: e["seq"] == said["seq"])
    return chen, anna, cid


def yesterdays(before: date) -> set[str]:
    return {(day - timedelta(days=1)).isoformat() for day in (before, date.today())}


async def draft(agent: Client, cid: str, timeout: float = 5.0) -> dict[str, Any]:
    ack = await agent.call("ticket.draft", {"conversation_id": cid}, timeout=timeout)
    assert ack["ok"] is True and ack["conversation_id"] == cid, ack
    return dict(ack["ticket"])


# -- the offline draft, filed --------------------------------------------------------------


async def test_the_draft_is_prefilled_and_the_edited_ticket_is_filed_also_after_close(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    before = date.today()
    chen, anna, cid = await fraud_case(server, clients)
    last = (await log_of(server, cid, chen.token))[-1]["seq"]

    ticket = await draft(anna, cid)
    # From the intent the bot understood and escalated with.
    assert ticket["intent"] == "card_payment_not_recognised"
    assert ticket["category"] == "Security/Fraud"
    assert ticket["sub_category"] == "Unrecognised transaction"
    # From the slots: the amount the bot understood, and what Chen told Anna afterwards
    # (understood at draft time).
    assert ticket["amounts"] == [{"value": "45.2", "currency": "EUR"}]
    assert ticket["card_or_account"] == "card ending 1357"
    assert len(ticket["dates"]) == 1 and ticket["dates"][0] in yesterdays(before)
    assert ticket["customer_request"] == DISPUTE
    assert ticket["summary"].startswith("Customer raised a sensitive topic")
    assert DISPUTE in ticket["summary"] and WHICH_CARD in ticket["summary"]
    assert ticket["resolution"] == "" and ticket["filled_by"] == "offline"
    assert ticket["sources"] == {
        "category": "intent",
        "sub_category": "intent",
        "amounts": "slots",
        "dates": "slots",
        "card_or_account": "slots",
        "customer_request": "message",
        "summary": "handoff",
    }
    # A draft appends nothing.
    assert (await log_of(server, cid, chen.token))[-1]["seq"] == last

    # The agent edits it and files it: one ticket.filed, seen by both sides.
    edited = copy.deepcopy(ticket)
    edited["summary"] = "Chen disputes 45.20 EUR on her card ending 1357, taken yesterday."
    edited["resolution"] = "Card blocked; dispute opened with the fraud team."
    edited["amounts"] = [{"value": "45.20", "currency": "EUR"}]
    key = "file-1"
    filed = await anna.command("ticket.file", conversation_id=cid, ticket=edited, key=key)
    assert filed["seq"] == last + 1 and filed["seqs"] == [last + 1]
    event = await chen.wait_event(cid, lambda e: e["type"] == "ticket.filed")
    assert event["seq"] == filed["seq"] and event["actor"] == "agent:anna"
    assert event["data"] == {"ticket": edited}
    await anna.wait_event(cid, lambda e: e["seq"] == filed["seq"])
    # Retrying with the same key files nothing twice.
    again = await anna.command("ticket.file", conversation_id=cid, ticket=edited, key=key)
    assert again["seq"] == filed["seq"]

    # Wrap-up: after the close the agent may still draft and file.
    closed = await anna.command("conversation.close", conversation_id=cid, reason="resolved")
    await anna.wait_for("unassigned", lambda u: u["conversation_id"] == cid)
    after = await draft(anna, cid)
    assert after["category"] == "Security/Fraud" and after["card_or_account"] == "card ending 1357"
    late = dict(edited, resolution="Card blocked; dispute opened; customer informed by email.")
    wrapped = await anna.command("ticket.file", conversation_id=cid, ticket=late)
    assert wrapped["seq"] == closed["seq"] + 1
    log = await log_of(server, cid, chen.token)
    by_seq = {e["seq"]: e for e in log}
    assert by_seq[closed["seq"]]["type"] == "conversation.closed"
    assert log[-1]["seq"] == wrapped["seq"] and log[-1]["type"] == "ticket.filed"
    assert log[-1]["data"]["ticket"]["resolution"] == late["resolution"]
    assert [e["type"] for e in log].count("ticket.filed") == 2


async def test_a_self_service_task_fills_the_resolution_and_card(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")
    anna = await connect(server, clients, "anna")
    await ready(anna)
    await say(alice, cid, "freeze my card ending 1234")
    done = await say(alice, cid, "yes")
    assert done.tasks and done.tasks[0]["ok"] is True
    await alice.command("agent.request", conversation_id=cid)
    await accept_offer(anna, alice, cid)

    ticket = await draft(anna, cid)
    assert ticket["resolution"] == (
        "Self-service freeze card: done (card id card-alice-debit, status frozen)."
    )
    assert ticket["sources"]["resolution"] == "task"
    assert ticket["resolution"] in ticket["summary"]
    assert ticket["card_or_account"] == "card ending 1234"
    assert ticket["customer_request"] == "freeze my card ending 1234"


async def test_a_plain_freeze_is_not_filed_as_a_lost_or_stolen_card(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    alice, cid = await start_chat(server, clients, "alice")
    anna = await connect(server, clients, "anna")
    await ready(anna)
    await say(alice, cid, "freeze my card ending 1234")
    await say(alice, cid, "yes")
    await alice.command("agent.request", conversation_id=cid)
    await accept_offer(anna, alice, cid)
    ticket = await draft(anna, cid)
    assert ticket["intent"] != "lost_or_stolen_card"
    assert (ticket["category"], ticket["sub_category"]) != ("Security/Fraud", "Lost or stolen card")


# -- refusals ------------------------------------------------------------------------------


async def test_a_malformed_ticket_is_refused_naming_the_field_and_nothing_is_appended(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    chen, anna, cid = await fraud_case(server, clients)
    good = await draft(anna, cid)
    before = await log_of(server, cid, chen.token)
    without_summary = {k: v for k, v in good.items() if k != "summary"}

    cases: list[tuple[Any, str]] = [
        (
            dict(good, amounts=[{"value": "twelve", "currency": "EUR"}]),
            "ticket.amounts[0].value: 'twelve' does not match",
        ),
        (
            dict(good, amounts=[{"value": "12.50", "currency": "euros"}]),
            "ticket.amounts[0].currency",
        ),
        (dict(good, category="Mortgages"), "ticket.category: 'Mortgages' is not one of"),
        (
            dict(good, sub_category="PIN"),
            "ticket.sub_category: 'PIN' is not a sub-category of 'Security/Fraud'",
        ),
        (dict(good, card_or_account="card 4111111111111357"), "ticket.card_or_account"),
        (dict(good, dates=["2026-02-30"]), "ticket.dates[0]: '2026-02-30' is not a real date"),
        (dict(good, summary=""), "ticket.summary: must not be empty"),
        (without_summary, "ticket: missing summary"),
        (dict(good, priority=3), "ticket.priority: unknown field"),
        (dict(good, filled_by="robot"), "ticket.filled_by"),
        ("a ticket", "ticket:"),
    ]
    for ticket, field in cases:
        ack = await anna.call(
            "ticket.file", {"key": f"bad-{field}", "conversation_id": cid, "ticket": ticket}
        )
        assert ack["ok"] is False, (ticket, ack)
        assert ack["error"]["code"] == "invalid_payload", ack
        assert field in ack["error"]["message"], (field, ack["error"]["message"])
    missing_key = await anna.call("ticket.file", {"conversation_id": cid, "ticket": good})
    assert missing_key["error"]["code"] == "invalid_payload"
    assert "key: Field required" in missing_key["error"]["message"]

    await server.settle()
    after = await log_of(server, cid, chen.token)
    assert after == before
    assert "ticket.filed" not in [e["type"] for e in after]
    # The same ticket, well-formed, is filed.
    filed = await anna.command("ticket.file", conversation_id=cid, ticket=good)
    assert filed["seq"] == before[-1]["seq"] + 1


async def test_only_an_agent_who_served_the_conversation_may_draft_or_file(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await ready_server(server_factory)
    chen, anna, cid = await fraud_case(server, clients)
    ticket = await draft(anna, cid)
    ben = await connect(server, clients, "ben")  # online, never served it
    last = (await log_of(server, cid, chen.token))[-1]["seq"]

    refused = await ben.call("ticket.draft", {"conversation_id": cid})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    refused = await ben.call("ticket.file", {"key": "k", "conversation_id": cid, "ticket": ticket})
    assert refused["ok"] is False and refused["error"]["code"] == "forbidden", refused
    missing = await ben.call("ticket.draft", {"conversation_id": "c-does-not-exist"})
    assert missing["error"]["code"] == "not_found", missing
    # Customers have no such command.
    unknown = await chen.call("ticket.draft", {"conversation_id": cid})
    assert unknown["error"]["code"] == "unknown_event", unknown
    # An agent who served a conversation may not draft another one's ticket.
    _bob, other = await start_chat(server, clients, "bob")
    refused = await anna.call("ticket.draft", {"conversation_id": other})
    assert refused["error"]["code"] == "forbidden", refused
    await server.settle()
    assert (await log_of(server, cid, chen.token))[-1]["seq"] == last

    # Once transferred to Ben, both have served it: both may.
    await anna.command("conversation.transfer", conversation_id=cid, to_agent="ben")
    await ben.wait_for("assigned", lambda a: a["conversation_id"] == cid)
    assert (await draft(ben, cid))["category"] == "Security/Fraud"
    filed = await anna.command("ticket.file", conversation_id=cid, ticket=ticket)
    event = await chen.wait_event(cid, lambda e: e["type"] == "ticket.filed")
    assert event["seq"] == filed["seq"] and event["actor"] == "agent:anna"


# -- with an LLM -----------------------------------------------------------------------------


def llm_answer(summary: str) -> dict[str, Any]:
    return {
        "category": "Security/Fraud",
        "sub_category": "Unrecognised transaction",
        "summary": summary,
        "customer_request": "The customer wants a card payment they do not recognise checked.",
        "resolution": "",
        "amounts": [{"value": "45.2", "currency": "EUR"}],
        "dates": [],
        "card_or_account": None,
    }


async def test_the_llm_polishes_the_draft_and_sees_no_card_number(
    fake_llm: FakeOpenAI, server_factory: ServerFactory, clients: list[Client]
) -> None:
    fake_llm.content = llm_answer(LLM_SUMMARY)
    server = await ready_server(
        server_factory,
        llm_base_url=fake_llm.base_url,
        llm_api_key="sk-test",
        llm_model="bank-llm-7b",
        llm_timeout_seconds=5.0,
    )
    chen, anna, cid = await fraud_case(server, clients)
    await chen.command(
        "message.send", conversation_id=cid, text="The full number is 4111 1111 1111 1357"
    )
    await anna.wait_event(cid, lambda e: "4111" in str(e["data"].get("text")))

    ticket = await draft(anna, cid)
    assert ticket["filled_by"] == "llm"
    assert ticket["summary"] == LLM_SUMMARY
    assert ticket["customer_request"] == fake_llm.content["customer_request"]
    assert ticket["sources"]["summary"] == "llm" and ticket["sources"]["customer_request"] == "llm"
    # Facts from the conversation stay as the offline filler found them.
    assert (ticket["category"], ticket["sub_category"]) == (
        "Security/Fraud",
        "Unrecognised transaction",
    )
    assert ticket["intent"] == "card_payment_not_recognised"
    assert ticket["amounts"] == [{"value": "45.2", "currency": "EUR"}]
    assert ticket["card_or_account"] == "card ending 1357"
    assert ticket["sources"]["amounts"] == "slots"

    (request,) = fake_llm.requests
    assert fake_llm.shape_errors == []
    assert request.body["model"] == "bank-llm-7b"
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.response_format == "json_schema"
    assert DISPUTE in request.text and "[card ending 1357]" in request.text
    assert "4111" not in request.text

    # The agent files what the LLM drafted as it is.
    filed = await anna.command("ticket.file", conversation_id=cid, ticket=ticket)
    event = await chen.wait_event(cid, lambda e: e["seq"] == filed["seq"])
    assert event["data"]["ticket"]["filled_by"] == "llm"


async def test_a_slow_llm_gives_the_offline_draft_in_time_and_the_chat_goes_on(
    fake_llm: FakeOpenAI, server_factory: ServerFactory, clients: list[Client]
) -> None:
    fake_llm.mode = "slow"
    fake_llm.delay = 10.0
    fake_llm.content = llm_answer(LLM_SUMMARY)
    timeout = 0.5
    server = await ready_server(
        server_factory,
        llm_base_url=fake_llm.base_url,
        llm_api_key="sk-test",
        llm_timeout_seconds=timeout,
    )
    chen, anna, cid = await fraud_case(server, clients)
    loop = asyncio.get_running_loop()

    began = loop.time()
    drafting = asyncio.create_task(draft(anna, cid))
    for _ in range(100):  # until the request is with the (stalling) model
        if fake_llm.requests:
            break
        await asyncio.sleep(0.01)
    assert len(fake_llm.requests) == 1

    # The chat goes on while the agent's draft waits for the model: every customer
    # message is acked (and reaches the agent) promptly, and nothing stalls the server.
    reply = await anna.command("message.send", conversation_id=cid, text="One moment please.")
    await chen.wait_event(cid, lambda e: e["seq"] == reply["seq"], timeout=0.5)
    acks: list[float] = []
    stalls: list[float] = []
    while not drafting.done():
        sent_at = loop.time()
        said = await chen.command(
            "message.send", conversation_id=cid, text=f"Are you still there? ({len(acks)})"
        )
        acks.append(loop.time() - sent_at)
        await anna.wait_event(cid, lambda e, seq=said["seq"]: e["seq"] == seq, timeout=0.5)
        napped = loop.time()
        await asyncio.sleep(0.05)
        stalls.append(loop.time() - napped - 0.05)
    assert max(stalls) < 0.2, stalls
    assert max(acks) < 0.25, acks
    assert len(acks) >= 3, acks  # the messages really were sent during the draft

    ticket = await drafting
    took = loop.time() - began
    assert timeout - 0.05 <= took < timeout + 0.75, took
    assert ticket["filled_by"] == "offline"
    assert "llm" not in ticket["sources"].values()
    assert ticket["summary"] != LLM_SUMMARY
    assert ticket["category"] == "Security/Fraud" and ticket["amounts"]
