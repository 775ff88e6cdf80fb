"""`improve`: what an LLM may change in the offline ticket, and that failures cost nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from handoff.tickets import (
    Amount,
    LLMError,
    SlotValue,
    Taxonomy,
    Ticket,
    UnderstoodMessage,
    improve,
    load_taxonomy,
    prefill,
)
from handoff.tickets.schema import LLM_FIELDS
from tests.fakes.conversations import Log

TIMEOUT = 2.0


@dataclass
class ScriptedLLM:
    """An in-process LLM port: answers `answer`, or raises / hangs as told; records calls."""

    answer: Mapping[str, Any] | None = None
    error: BaseException | None = None
    hang: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def complete_json(
        self, system: str, user: str, schema: Mapping[str, Any], *, timeout: float
    ) -> Mapping[str, Any]:
        self.calls.append({"system": system, "user": user, "schema": schema, "timeout": timeout})
        if self.hang:
            await asyncio.sleep(3600)  # ignores its deadline, like a broken adapter
        if self.error is not None:
            raise self.error
        assert self.answer is not None
        return self.answer


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def refund_log() -> tuple[Log, list[UnderstoodMessage]]:
    log = Log()
    seq = log.customer_says(
        "I was charged twice, 42.10 EUR, on card 4111 1111 1111 1234 at the bakery on 1 May"
    )
    log.bot_says("I'll get a colleague.", kind="escalating", intent="transaction_charged_twice")
    log.handover("agent:a-1", summary="Customer reports a double charge; asked for a person.")
    log.agent_says("I have opened a dispute for the second charge, you'll get 42.10 back.")
    nlu = [
        UnderstoodMessage(
            seq,
            "transaction_charged_twice",
            0.9,
            (SlotValue("amount", "42.10 EUR", {"value": "42.10", "currency": "EUR"}),),
        )
    ]
    return log, nlu


def answer_for(ticket: Ticket, **changes: Any) -> dict[str, Any]:
    answer = {key: value for key, value in ticket.to_json().items() if key in LLM_FIELDS}
    answer.update(changes)
    return answer


async def test_without_an_llm_the_offline_ticket_is_returned(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    assert await improve(offline, log.events, None, timeout=TIMEOUT) is offline


async def test_the_llm_rewords_the_free_text(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(
        answer_for(
            offline,
            summary="The customer was charged twice for one bakery purchase. The agent opened"
            " a dispute for the duplicate charge.",
            customer_request="Wants the duplicate charge refunded.",
            resolution="Agent opened a dispute for the second charge.",
        )
    )
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert ticket.filled_by == "llm"
    assert ticket.summary.startswith("The customer was charged twice")
    assert ticket.customer_request == "Wants the duplicate charge refunded."
    assert ticket.resolution == "Agent opened a dispute for the second charge."
    assert (ticket.category, ticket.amounts) == (offline.category, offline.amounts)
    assert ticket.sources["summary"] == ticket.sources["resolution"] == "llm"
    assert ticket.sources["amounts"] == "slots"
    assert llm.calls[0]["timeout"] == TIMEOUT


async def test_the_llm_cannot_change_facts_from_slots_or_the_intent(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(
        answer_for(
            offline,
            category="Security/Fraud",
            sub_category="Unrecognised transaction",
            amounts=[{"value": "4210", "currency": "EUR"}],
        )
    )
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("Payments", "Duplicate or unexpected charge")
    assert ticket.amounts == (Amount("42.10", "EUR"),)
    assert "category" not in ticket.sources or ticket.sources["category"] == "intent"


async def test_the_llm_may_pick_a_sub_category_of_the_same_category(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(answer_for(offline, sub_category="Refunds"))
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("Payments", "Refunds")
    assert ticket.sources["sub_category"] == "llm"


async def test_an_unknown_topic_may_get_its_category_from_the_llm(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("The payment to my landlord of 800 GBP is still not there since 2 May")
    log.agent_says("I can see the transfer is pending.")
    offline = prefill(log.events, taxonomy=taxonomy)
    assert offline.category == "General"
    llm = ScriptedLLM(
        answer_for(
            offline,
            category="Transfers",
            sub_category="Pending transfer",
            amounts=[
                {"value": "800.00", "currency": "GBP"},
                {"value": "999", "currency": "GBP"},  # nobody said 999: dropped
            ],
            dates=["2024-05-02"],
            card_or_account="account ending 7777",  # nobody said 7777: dropped
        )
    )
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("Transfers", "Pending transfer")
    assert ticket.amounts == (Amount("800.00", "GBP"),)
    assert ticket.dates == ("2024-05-02",)
    assert ticket.card_or_account is None
    assert ticket.sources["amounts"] == ticket.sources["dates"] == "llm"


async def test_a_card_the_customer_named_may_be_filled_in(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("My card 4111 1111 1111 1234 does not work anywhere")
    offline = prefill(log.events, taxonomy=taxonomy)
    assert offline.card_or_account is None
    llm = ScriptedLLM(answer_for(offline, card_or_account="card ending 1234"))
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert ticket.card_or_account == "card ending 1234"


async def test_a_full_card_number_from_the_llm_is_dropped(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(answer_for(offline, card_or_account="card 4111111111111234"))
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert ticket.filled_by == "llm"
    assert ticket.card_or_account is None


async def test_numbers_the_llm_writes_are_masked(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(answer_for(offline, summary="Charged twice on 4111111111111234."))
    ticket = await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    assert ticket.summary == "Charged twice on [card ending 1234]."


async def test_what_the_llm_is_sent_is_masked(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    log.customer_says("my IBAN is GB82 WEST 1234 5698 7654 32 and phone 020 7946 0958")
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    llm = ScriptedLLM(answer_for(offline))
    await improve(offline, log.events, llm, timeout=TIMEOUT, taxonomy=taxonomy)
    sent = llm.calls[0]["system"] + llm.calls[0]["user"]
    assert "[card ending 1234]" in sent
    assert "[account number]" in sent and "[number]" in sent
    for hidden in ("4111", "5698", "7946"):
        assert hidden not in sent
    assert "Payments: Pending payment; Declined payment" in sent
    assert "Conversation date: 2024-05-02." in sent


@pytest.mark.parametrize(
    "answer",
    [
        {"summary": "only this"},
        {"category": "Payments", "sub_category": "Delivery"},  # not a pair of the taxonomy
        {"summary": ""},
        {"amounts": [{"value": "ten", "currency": "EUR"}]},
        {"dates": ["2024-13-01"]},  # the right form, but no such day
        {"extra": True},
    ],
)
async def test_a_bad_answer_keeps_the_offline_ticket(
    taxonomy: Taxonomy, answer: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    full = answer if answer == {"summary": "only this"} else answer_for(offline, **answer)
    with caplog.at_level(logging.WARNING, logger="tandem.tickets.llm"):
        ticket = await improve(
            offline, log.events, ScriptedLLM(full), timeout=TIMEOUT, taxonomy=taxonomy
        )
    assert ticket is offline
    assert "keeping the offline ticket" in caplog.text


@pytest.mark.parametrize(
    "error", [LLMError("LLM answered HTTP 500: boom"), RuntimeError("adapter bug")]
)
async def test_an_llm_failure_keeps_the_offline_ticket(
    taxonomy: Taxonomy, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    with caplog.at_level(logging.WARNING, logger="tandem.tickets.llm"):
        ticket = await improve(
            offline, log.events, ScriptedLLM(error=error), timeout=TIMEOUT, taxonomy=taxonomy
        )
    assert ticket is offline
    assert str(error) in caplog.text


async def test_an_llm_ignoring_its_deadline_is_cut_off(taxonomy: Taxonomy) -> None:
    log, nlu = refund_log()
    offline = prefill(log.events, nlu, taxonomy=taxonomy)
    loop = asyncio.get_running_loop()
    started = loop.time()
    ticket = await improve(
        offline, log.events, ScriptedLLM(hang=True), timeout=0.05, taxonomy=taxonomy
    )
    assert ticket is offline
    assert loop.time() - started < 2.0
