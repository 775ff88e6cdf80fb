"""The OpenAI-compatible adapter against a fake chat-completions server on loopback, and
`improve` end to end through it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gateway.llm_openai import OpenAIChatLLM
from handoff.tickets import (
    LLMError,
    SlotValue,
    Ticket,
    UnderstoodMessage,
    improve,
    load_taxonomy,
    prefill,
    ticket_schema,
)
from handoff.tickets.schema import LLM_FIELDS
from tests.fakes.conversations import Log
from tests.fakes.openai_server import FakeOpenAI

CARD = "4111 1111 1111 1234"
SCHEMA = ticket_schema(load_taxonomy())


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key="sk-test")
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
async def llm(server: FakeOpenAI) -> AsyncIterator[OpenAIChatLLM]:
    async with OpenAIChatLLM(server.base_url, "sk-test", "bank-llm-7b") as adapter:
        yield adapter


def conversation() -> tuple[Log, Ticket]:
    log = Log()
    seq = log.customer_says(f"Someone paid 89.99 EUR with my card {CARD} at a shop I never visited")
    log.bot_says(
        "I'm bringing in a colleague now.", kind="escalating", intent="card_payment_not_recognised"
    )
    log.handover("agent:a-1", summary="Customer disputes a card payment; sensitive topic.")
    log.agent_says("I have blocked the card and opened a fraud case.")
    nlu = [
        UnderstoodMessage(
            seq,
            "card_payment_not_recognised",
            0.97,
            (
                SlotValue("amount", "89.99 EUR", {"value": "89.99", "currency": "EUR"}),
                SlotValue("card_number", CARD, CARD),
            ),
        )
    ]
    return log, prefill(log.events, nlu)


def improved_answer(ticket: Ticket) -> dict[str, Any]:
    answer = {key: value for key, value in ticket.to_json().items() if key in LLM_FIELDS}
    answer["summary"] = (
        "The customer disputes a card payment of 89.99 EUR at a shop they never visited."
        " The agent blocked the card and opened a fraud case."
    )
    answer["resolution"] = "Card blocked; fraud case opened by the agent."
    return answer


async def test_a_good_answer_is_returned_as_json(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    server.content = {"hello": "world"}
    answer = await llm.complete_json("Reply in JSON.", "Hi", SCHEMA, timeout=5)
    assert answer == {"hello": "world"}
    assert server.shape_errors == []
    (request,) = server.requests
    assert request.headers["Authorization"] == "Bearer sk-test"
    body = request.body
    assert body["model"] == "bank-llm-7b"
    assert body["temperature"] == 0
    assert body["messages"] == [
        {"role": "system", "content": "Reply in JSON."},
        {"role": "user", "content": "Hi"},
    ]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "ticket", "strict": True, "schema": SCHEMA},
    }


async def test_a_slow_server_times_out(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    server.mode = "slow"
    started = asyncio.get_running_loop().time()
    with pytest.raises(LLMError, match=r"no answer within 0\.2s"):
        await llm.complete_json("JSON", "Hi", SCHEMA, timeout=0.2)
    assert asyncio.get_running_loop().time() - started < 2


async def test_a_server_error_is_reported(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    server.mode = "http_500"
    with pytest.raises(LLMError, match=r"HTTP 500: .*had an error"):
        await llm.complete_json("JSON", "Hi", SCHEMA, timeout=5)
    assert len(server.requests) == 1  # a 500 is not a format problem: no retry


async def test_content_that_is_not_json_is_reported(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    server.mode = "invalid_json"
    with pytest.raises(LLMError, match="not valid JSON") as caught:
        await llm.complete_json("JSON", "Hi", SCHEMA, timeout=5)
    assert "category" not in str(caught.value)  # describes the answer, never quotes it


async def test_schema_violating_json_is_returned_for_the_caller_to_check(
    server: FakeOpenAI, llm: OpenAIChatLLM
) -> None:
    # The adapter guarantees a JSON object; the ticket schema is `improve`'s to enforce.
    server.mode = "schema_violation"
    answer = await llm.complete_json("JSON", "Hi", SCHEMA, timeout=5)
    assert answer["category"] == "Mortgages"


async def test_an_older_server_gets_json_object_and_is_remembered(
    server: FakeOpenAI, llm: OpenAIChatLLM
) -> None:
    server.mode = "reject_json_schema"
    server.content = {"ok": True}
    assert await llm.complete_json("Reply as JSON.", "Hi", SCHEMA, timeout=5) == {"ok": True}
    assert [r.response_format for r in server.requests] == ["json_schema", "json_object"]
    assert '"title": "ticket"' in server.requests[1].body["messages"][0]["content"]
    assert await llm.complete_json("Reply as JSON.", "Hi", SCHEMA, timeout=5) == {"ok": True}
    assert [r.response_format for r in server.requests][2:] == ["json_object"]
    assert server.shape_errors == []


async def test_a_wrong_api_key_is_reported(server: FakeOpenAI) -> None:
    async with OpenAIChatLLM(server.base_url, "sk-wrong", "m") as adapter:
        with pytest.raises(LLMError, match=r"HTTP 401.*API key"):
            await adapter.complete_json("JSON", "Hi", SCHEMA, timeout=5)


async def test_an_unreachable_server_is_reported() -> None:
    # Port 9 (discard) on loopback: nothing listens there in a test environment.
    async with OpenAIChatLLM("http://127.0.0.1:9/v1", None, "m") as adapter:
        with pytest.raises(LLMError, match="request failed"):
            await adapter.complete_json("JSON", "Hi", SCHEMA, timeout=5)


async def test_a_session_factory_is_used_and_closed(server: FakeOpenAI) -> None:
    made: list[aiohttp.ClientSession] = []

    def factory() -> aiohttp.ClientSession:
        made.append(aiohttp.ClientSession(headers={"X-Bank": "tandem"}))
        return made[-1]

    server.content = {"a": 1}
    adapter = OpenAIChatLLM(server.base_url + "/", "sk-test", "m", session_factory=factory)
    assert adapter.url == f"{server.base_url}/chat/completions"
    await adapter.complete_json("JSON", "Hi", SCHEMA, timeout=5)
    await adapter.complete_json("JSON", "Hi", SCHEMA, timeout=5)
    assert len(made) == 1
    assert server.requests[0].headers["X-Bank"] == "tandem"
    await adapter.close()
    assert made[0].closed


def test_a_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        OpenAIChatLLM("llm.bank.internal/v1", None, "m")


async def test_improve_end_to_end(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    log, offline = conversation()
    server.content = improved_answer(offline)
    ticket = await improve(offline, log.events, llm, timeout=5)
    assert ticket.filled_by == "llm"
    assert ticket.summary.startswith("The customer disputes a card payment of 89.99 EUR")
    assert ticket.resolution == "Card blocked; fraud case opened by the agent."
    assert (ticket.category, ticket.sub_category) == ("Security/Fraud", "Unrecognised transaction")
    assert ticket.card_or_account == "card ending 1234"
    assert server.shape_errors == []
    # What left Tandem: the card number only as its mask.
    (request,) = server.requests
    assert "[card ending 1234]" in request.text
    assert "4111" not in request.text
    assert (
        "card_payment_not_recognised" not in request.body["response_format"]["json_schema"]["name"]
    )


async def test_improve_keeps_the_offline_ticket_on_timeout(
    server: FakeOpenAI, llm: OpenAIChatLLM, caplog: pytest.LogCaptureFixture
) -> None:
    log, offline = conversation()
    server.mode = "slow"
    with caplog.at_level(logging.WARNING, logger="tandem.tickets.llm"):
        ticket = await improve(offline, log.events, llm, timeout=0.2)
    assert ticket is offline and ticket.filled_by == "offline"
    assert "no answer within 0.2s" in caplog.text


@pytest.mark.parametrize("mode", ["invalid_json", "schema_violation", "http_500"])
async def test_improve_keeps_the_offline_ticket_on_a_bad_answer(
    server: FakeOpenAI, llm: OpenAIChatLLM, mode: Any, caplog: pytest.LogCaptureFixture
) -> None:
    log, offline = conversation()
    server.mode = mode
    server.content = improved_answer(offline)
    with caplog.at_level(logging.WARNING, logger="tandem.tickets.llm"):
        ticket = await improve(offline, log.events, llm, timeout=5)
    assert ticket is offline
    assert "keeping the offline ticket" in caplog.text


async def test_improve_works_with_an_older_server(server: FakeOpenAI, llm: OpenAIChatLLM) -> None:
    log, offline = conversation()
    server.mode = "reject_json_schema"
    server.content = improved_answer(offline)
    ticket = await improve(offline, log.events, llm, timeout=5)
    assert ticket.filled_by == "llm"
    assert all("4111" not in request.text for request in server.requests)
