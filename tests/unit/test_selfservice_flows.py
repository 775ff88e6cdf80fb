"""Every self-service flow end to end against the demo bank, the way a bot would drive it.

Each turn's state goes through JSON on the way back, as it does through the event log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from handoff.selfservice import (
    FLOW_NAMES,
    INTENT_FLOWS,
    DemoBank,
    FlowState,
    FlowTurn,
    SelfService,
    Utterance,
)
from handoff.selfservice.flows import FLOWS

NOW = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def bank() -> DemoBank:
    return DemoBank(clock=lambda: NOW, seed=3)


@pytest.fixture
def service(bank: DemoBank) -> SelfService:
    return SelfService(bank)


class Chat:
    """One customer talking to the flows: starts one when asked, then resumes it."""

    def __init__(self, service: SelfService, customer: str) -> None:
        self.service = service
        self.customer = customer
        self.state: FlowState | None = None
        self.seq = 0
        self.turns: list[FlowTurn] = []

    async def say(
        self,
        text: str,
        *,
        intent: str | None = None,
        confidence: float = 0.0,
        slots: Mapping[str, Any] | None = None,
        flow: str | None = None,
    ) -> FlowTurn:
        self.seq += 1
        utterance = Utterance(text, intent, confidence, slots or {})
        request_id = f"conv-{self.customer}:{self.seq}"
        if self.state is None:
            chosen = flow or self.service.flow_for(utterance)
            assert chosen is not None, f"no flow for {text!r}"
            turn = await self.service.start(chosen, self.customer, utterance, request_id)
        else:
            turn = await self.service.resume(self.state, self.customer, utterance, request_id)
        self.turns.append(turn)
        self.state = _through_json(turn.state)
        if turn.done is not None:
            json.dumps(turn.done.to_json())
        if turn.escalate is not None:
            json.dumps(turn.escalate.to_json())
        return turn


def _through_json(state: FlowState | None) -> FlowState | None:
    if state is None:
        return None
    return FlowState.from_json(json.loads(json.dumps(state.to_json())))


async def _card(bank: DemoBank, customer: str, last4: str) -> Any:
    return next(card for card in await bank.list_cards(customer) if card.last4 == last4)


def test_every_intent_leads_to_a_known_flow() -> None:
    assert set(FLOWS) == FLOW_NAMES
    assert set(INTENT_FLOWS.values()) <= FLOW_NAMES


# -- freeze_card ---------------------------------------------------------------------------


async def test_freeze_with_the_card_named_in_the_first_message(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    confirm = await chat.say("Please freeze my card ending 5678")
    assert confirm.say == (
        "I'll freeze your Mastercard credit ending 5678: no payments or withdrawals can be "
        "made with it until you unfreeze it. Shall I go ahead?"
    )
    assert confirm.suggestions == ("Yes", "No")
    assert confirm.state is not None and confirm.state.awaiting == "confirm"
    assert (await _card(bank, "alice", "5678")).status == "active"  # nothing before "yes"

    done = await chat.say("yes")
    assert done.state is None
    assert done.done is not None and done.done.ok
    assert (done.done.flow, done.done.action) == ("freeze_card", "freeze_card")
    assert done.done.slots["card"]["last4"] == "5678"
    assert done.done.result == {"card_id": "card-alice-credit", "status": "frozen"}
    assert (await _card(bank, "alice", "5678")).status == "frozen"
    assert (await _card(bank, "alice", "1234")).status == "active"


async def test_freeze_asks_which_card_listing_the_options(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    ask = await chat.say("freeze my card")
    assert ask.suggestions == ("Visa debit ending 1234", "Mastercard credit ending 5678")
    assert ask.say == (
        "Which card would you like to freeze: Visa debit ending 1234 or Mastercard credit "
        "ending 5678?"
    )
    assert ask.state is not None and ask.state.awaiting == "card"

    confirm = await chat.say("Visa debit ending 1234")  # the suggestion, clicked
    assert "Visa debit ending 1234" in confirm.say
    await chat.say("go ahead")
    assert (await _card(bank, "alice", "1234")).status == "frozen"


async def test_freeze_takes_the_card_from_the_understandings_slots(service: SelfService) -> None:
    chat = Chat(service, "alice")
    turn = await chat.say(
        "can you do that for the other one", slots={"card": {"kind": "credit"}}, flow="freeze_card"
    )
    assert turn.state is not None and turn.state.slots["card"]["last4"] == "5678"


async def test_freezing_a_frozen_card_says_so_and_ends(service: SelfService) -> None:
    chat = Chat(service, "carol")
    turn = await chat.say("freeze my debit card")
    assert turn.say.startswith("Your Visa debit ending 9012 is already frozen.")
    assert turn.state is None and turn.done is None and turn.escalate is None


async def test_no_at_the_confirmation_changes_nothing(service: SelfService, bank: DemoBank) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my credit card")
    turn = await chat.say("No")
    assert turn.state is None and turn.done is None and turn.escalate is None
    assert "nothing has been changed" in turn.say
    assert (await _card(bank, "alice", "5678")).status == "active"


async def test_an_unclear_confirmation_is_asked_again(service: SelfService) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my credit card")
    turn = await chat.say("hmm what")
    assert turn.say.startswith("Sorry, I need a yes or a no.")
    assert turn.state is not None and turn.state.awaiting == "confirm"
    assert turn.state.attempts == 1


# -- unfreeze_card -------------------------------------------------------------------------


async def test_unfreeze_picks_the_only_frozen_card(service: SelfService, bank: DemoBank) -> None:
    chat = Chat(service, "carol")
    confirm = await chat.say("please unfreeze my card")
    assert "Visa debit ending 9012" in confirm.say
    done = await chat.say("yes please")
    assert done.done is not None and done.done.action == "unfreeze_card"
    assert (await _card(bank, "carol", "9012")).status == "active"


async def test_unfreezing_an_active_card_says_there_is_nothing_to_do(service: SelfService) -> None:
    chat = Chat(service, "alice")
    ask = await chat.say("unfreeze my card")
    assert len(ask.suggestions) == 2
    turn = await chat.say("1234")
    assert turn.say == "Your Visa debit ending 1234 isn't frozen: it's ready to use."
    assert turn.state is None


async def test_unfreezing_a_lost_card_goes_to_a_person_with_the_card(
    service: SelfService,
) -> None:
    chat = Chat(service, "chen")
    turn = await chat.say("unfreeze my card ending 2468")
    assert turn.escalate is not None
    assert turn.escalate.reason == "not_allowed"
    assert turn.escalate.queue == "cards"
    assert turn.escalate.slots["card"]["last4"] == "2468"
    assert "can't be unfrozen" in turn.say
    assert turn.state is None and turn.done is None


# -- report_lost_card ----------------------------------------------------------------------


async def test_report_lost_with_a_single_card_needs_no_question(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "bob")
    confirm = await chat.say("I lost my card", intent="lost_or_stolen_card", confidence=0.95)
    assert "Visa debit ending 4321" in confirm.say
    assert confirm.state is not None and confirm.state.awaiting == "confirm"
    assert bank.replacement_orders("bob") == ()

    done = await chat.say("yes")
    (order,) = bank.replacement_orders("bob")
    assert done.done is not None and done.done.result["order_id"] == order.order_id
    assert done.done.result["delivery_estimate"] == "2026-03-11"
    assert order.order_id in done.say and "11 March 2026" in done.say
    assert (await _card(bank, "bob", "4321")).status == "lost"


async def test_a_retried_reaction_orders_one_replacement(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "bob")
    await chat.say("my card was stolen")
    assert chat.state is not None
    state = chat.state
    yes = Utterance("yes")
    first = await service.resume(state, "bob", yes, "conv-bob:2")
    again = await service.resume(state, "bob", yes, "conv-bob:2")
    assert len(bank.replacement_orders("bob")) == 1
    assert first.done is not None and again.done is not None
    assert first.done.result == again.done.result
    assert first.say == again.say


async def test_a_swallowed_card_starts_the_lost_card_flow(service: SelfService) -> None:
    assert service.flow_for_intent("card_swallowed") == "report_lost_card"
    chat = Chat(service, "alice")
    ask = await chat.say("the atm kept it", intent="card_swallowed", confidence=0.9)
    assert ask.state is not None and ask.state.flow == "report_lost_card"
    assert ask.say.startswith("Which card is lost or stolen:")


async def test_someone_using_the_card_goes_to_the_fraud_team(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    await chat.say("I lost my credit card")
    turn = await chat.say("wait, someone used it at a shop yesterday")
    assert turn.escalate is not None
    assert turn.escalate.reason == "compromised"
    assert (turn.escalate.queue, turn.escalate.priority) == ("fraud", 9)
    assert turn.escalate.intent == "compromised_card"
    assert turn.escalate.slots["card"]["last4"] == "5678"
    assert "fraud team" in turn.say
    assert turn.state is None
    assert bank.replacement_orders("alice") == ()


async def test_a_compromise_in_the_first_message_is_handed_over_at_once(
    service: SelfService,
) -> None:
    chat = Chat(service, "bob")
    turn = await chat.say("my card was stolen and there are payments I didn't make")
    assert turn.escalate is not None and turn.escalate.reason == "compromised"
    assert turn.escalate.slots == {}


async def test_an_outage_at_the_action_escalates_with_the_slots(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "bob")
    await chat.say("I lost my card")
    bank.simulate_outage("report_lost_card")
    turn = await chat.say("yes")
    assert turn.state is None
    assert turn.escalate is not None
    assert turn.escalate.reason == "bank_error"
    assert (turn.escalate.queue, turn.escalate.intent) == ("cards", "lost_or_stolen_card")
    assert turn.escalate.slots["card"]["id"] == "card-bob-debit"
    assert "Visa debit ending 4321" in turn.escalate.summary
    assert "unavailable" in turn.escalate.summary
    assert turn.done is not None and not turn.done.ok
    assert turn.done.result["error"] == "unavailable"
    assert "couldn't report your card lost" in turn.say
    assert (await _card(bank, "bob", "4321")).status == "active"


async def test_an_outage_while_looking_up_cards_escalates(
    service: SelfService, bank: DemoBank
) -> None:
    bank.simulate_outage("list_cards")
    turn = await Chat(service, "alice").say("freeze my card")
    assert turn.escalate is not None and turn.escalate.reason == "bank_error"
    assert turn.done is None


async def test_an_unknown_customer_is_handed_over(service: SelfService) -> None:
    turn = await Chat(service, "mallory").say("freeze my card")
    assert turn.escalate is not None and turn.escalate.reason == "bank_error"


# -- transfer_status -----------------------------------------------------------------------


async def test_transfer_status_answers_at_once_without_confirmation(
    service: SelfService,
) -> None:
    chat = Chat(service, "alice")
    turn = await chat.say("where is my transfer TR-1001?")
    assert turn.state is None
    assert turn.say.startswith("Your transfer TR-1001 of 250.00 EUR to Jane Doe")
    assert "still being processed" in turn.say
    assert turn.done is not None and turn.done.result["status"] == "pending"


async def test_transfer_status_offers_recent_transfers(service: SelfService) -> None:
    chat = Chat(service, "alice")
    ask = await chat.say("my transfer hasn't arrived", intent="pending_transfer", confidence=0.8)
    assert ask.suggestions[0] == "TR-1001: 250.00 EUR to Jane Doe"
    assert len(ask.suggestions) == 3
    turn = await chat.say("1003")  # a bare reference answers the question
    assert turn.done is not None and turn.done.slots == {"transfer_ref": "TR-1003"}
    assert "failed" in turn.say


async def test_an_unknown_transfer_is_asked_again_then_handed_over(
    service: SelfService,
) -> None:
    chat = Chat(service, "alice")
    first = await chat.say("status of transfer TR-9999")
    assert first.say.startswith("I can't find a transfer with the reference TR-9999.")
    assert first.state is not None and first.state.attempts == 1
    second = await chat.say("TR-8888")
    assert second.escalate is not None and second.escalate.reason == "not_understood"
    assert second.escalate.queue == "transfers"


async def test_a_customer_with_one_transfer_is_not_asked(service: SelfService) -> None:
    turn = await Chat(service, "bob").say("where is my transfer")
    assert turn.done is not None and turn.done.slots["transfer_ref"] == "TR-2001"


# -- balance -------------------------------------------------------------------------------


async def test_balance_of_a_named_account(service: SelfService) -> None:
    turn = await Chat(service, "alice").say("what's my savings balance?")
    assert turn.say == "The balance of your savings account is 10,200.00 EUR."
    assert turn.state is None
    assert turn.done is not None
    assert turn.done.result == {
        "account_id": "acc-alice-savings",
        "amount": "10200.00",
        "currency": "EUR",
    }


async def test_balance_asks_which_account_then_answers(service: SelfService) -> None:
    chat = Chat(service, "alice")
    ask = await chat.say("check my balance", intent="check_balance", confidence=0.9)
    assert ask.suggestions == ("Current account (EUR)", "Savings account (EUR)")
    turn = await chat.say("Current account (EUR)")
    assert turn.say == "The balance of your current account is 2,450.75 EUR."


async def test_balance_with_one_account_needs_no_question(service: SelfService) -> None:
    turn = await Chat(service, "bob").say("how much money do I have")
    assert turn.say == "The balance of your current account is 830.20 GBP."


async def test_balance_takes_the_account_from_the_slots(service: SelfService) -> None:
    chat = Chat(service, "carol")
    turn = await chat.say("balance", slots={"account": {"name": "Savings"}})
    assert turn.say == "The balance of your savings account is 42.10 USD."


# -- card_limit ----------------------------------------------------------------------------


async def test_card_limit_with_everything_in_the_first_message(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    confirm = await chat.say("raise the daily limit on my credit card to €5,000")
    assert confirm.say == (
        "I'll change the daily limit of your Mastercard credit ending 5678 from 3,000.00 EUR "
        "to 5,000.00 EUR. Shall I go ahead?"
    )
    done = await chat.say("yes")
    assert done.done is not None and done.done.action == "set_card_limit"
    assert done.done.slots["amount"] == {"value": "5000.00", "currency": "EUR"}
    assert (await _card(bank, "alice", "5678")).daily_limit == Decimal(5000)


async def test_card_limit_asks_for_the_amount(service: SelfService, bank: DemoBank) -> None:
    chat = Chat(service, "bob")
    ask = await chat.say("I want to change my card limit")
    assert ask.say == (
        "What would you like the new daily limit of your Visa debit ending 4321 to be? "
        "It's 1,000.00 GBP at the moment."
    )
    assert ask.state is not None and ask.state.awaiting == "amount"
    await chat.say("1500")
    await chat.say("ok")
    assert (await _card(bank, "bob", "4321")).daily_limit == Decimal(1500)


async def test_card_limit_keeps_the_amount_while_asking_for_the_card(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    ask = await chat.say(
        "change my limit",
        intent="change_card_limit",
        confidence=0.9,
        slots={"amount": {"value": Decimal("2500"), "currency": None}},
    )
    assert ask.state is not None and ask.state.awaiting == "card"
    confirm = await chat.say("the debit one")
    assert "from 2,000.00 EUR to 2,500.00 EUR" in confirm.say
    await chat.say("yes")
    assert (await _card(bank, "alice", "1234")).daily_limit == Decimal(2500)


async def test_a_limit_out_of_range_is_asked_again(service: SelfService, bank: DemoBank) -> None:
    chat = Chat(service, "alice")
    await chat.say("set my debit card limit to 9000")
    again = await chat.say("yes")
    assert again.say.startswith(
        "The daily limit of this card must be between 100.00 and 5,000.00 EUR."
    )
    assert again.state is not None and again.state.awaiting == "amount"
    assert again.done is None and again.escalate is None
    assert (await _card(bank, "alice", "1234")).daily_limit == Decimal(2000)
    await chat.say("4,500")
    await chat.say("yes")
    assert (await _card(bank, "alice", "1234")).daily_limit == Decimal(4500)


async def test_a_limit_in_another_currency_is_asked_again(service: SelfService) -> None:
    chat = Chat(service, "alice")
    turn = await chat.say("set my debit card limit to £3000")
    assert turn.say.startswith("The limit of your Visa debit ending 1234 is set in EUR.")
    assert turn.state is not None and turn.state.awaiting == "amount"


async def test_two_unusable_answers_go_to_a_person_with_what_was_collected(
    service: SelfService,
) -> None:
    chat = Chat(service, "alice")
    await chat.say("change the limit on my credit card")
    first = await chat.say("hmm, more")
    assert first.say.startswith("Sorry, I didn't catch that.")
    assert first.state is not None and first.state.attempts == 1
    second = await chat.say("as much as possible")
    assert second.state is None
    assert second.escalate is not None
    assert second.escalate.reason == "not_understood"
    assert second.escalate.intent == "change_card_limit"
    assert second.escalate.slots["card"]["last4"] == "5678"
    assert "no usable amount after 2 tries" in second.escalate.summary


async def test_a_card_that_matches_nothing_is_asked_again_then_handed_over(
    service: SelfService,
) -> None:
    chat = Chat(service, "alice")
    first = await chat.say("freeze my card ending 9999")
    assert first.say.startswith("I can't find that card among yours.")
    assert first.state is not None and first.state.attempts == 1
    assert first.suggestions == ("Visa debit ending 1234", "Mastercard credit ending 5678")
    second = await chat.say("0000")
    assert second.escalate is not None and second.escalate.reason == "not_understood"


# -- cancelling and changing topic ---------------------------------------------------------


@pytest.mark.parametrize("text", ["cancel", "Stop", "never mind", "ok cancel please", "no"])
async def test_cancel_at_a_question(service: SelfService, bank: DemoBank, text: str) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my card")
    turn = await chat.say(text)
    assert turn.state is None and turn.done is None and turn.escalate is None
    assert not turn.topic_changed
    assert turn.say.startswith("OK, I've stopped there.")
    assert all(card.status == "active" for card in await bank.list_cards("alice"))


async def test_cancel_at_the_confirmation(service: SelfService, bank: DemoBank) -> None:
    chat = Chat(service, "bob")
    await chat.say("I lost my card")
    turn = await chat.say("never mind")
    assert turn.state is None
    assert bank.replacement_orders("bob") == ()


async def test_a_confident_other_intent_ends_the_flow(service: SelfService) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my card")
    turn = await chat.say("what exchange rate do you use?", intent="exchange_rate", confidence=0.92)
    assert turn.topic_changed
    assert turn.state is None and turn.say == "" and turn.escalate is None


async def test_asking_for_another_flow_ends_this_one(service: SelfService) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my card")
    turn = await chat.say("actually, what's my balance?")
    assert turn.topic_changed and turn.state is None
    assert service.flow_for(Utterance("actually, what's my balance?")) == "balance"


async def test_an_answer_is_not_a_topic_change_whatever_the_classifier_says(
    service: SelfService,
) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my card")
    turn = await chat.say("the credit one", intent="card_linking", confidence=0.9)
    assert not turn.topic_changed
    assert turn.state is not None and turn.state.awaiting == "confirm"


async def test_an_unsure_classifier_does_not_end_the_flow(service: SelfService) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my card")
    turn = await chat.say("uh", intent="exchange_rate", confidence=0.2)
    assert not turn.topic_changed
    assert turn.state is not None and turn.state.attempts == 1


async def test_a_flow_this_version_does_not_know_is_dropped(service: SelfService) -> None:
    state = FlowState("order_pizza", {}, "card")
    turn = await service.resume(state, "alice", Utterance("1234"), "r")
    assert turn.topic_changed and turn.state is None


async def test_starting_an_unknown_flow_is_a_caller_error(service: SelfService) -> None:
    with pytest.raises(ValueError, match="unknown flow"):
        await service.start("order_pizza", "alice", Utterance("hi"), "r")


async def test_a_refusal_by_the_bank_at_the_action_goes_to_a_person(
    service: SelfService, bank: DemoBank
) -> None:
    chat = Chat(service, "alice")
    await chat.say("freeze my debit card")
    # Reported lost in the app meanwhile: the bank refuses what the flow checked before.
    await bank.report_lost_card("alice", "card-alice-debit", "app:1")
    turn = await chat.say("yes")
    assert turn.escalate is not None and turn.escalate.reason == "not_allowed"
    assert turn.escalate.slots["card"]["last4"] == "1234"
    assert turn.done is not None and not turn.done.ok
    assert turn.done.result["error"] == "not_allowed"


async def test_a_customer_without_transfers_is_handed_over(service: SelfService) -> None:
    turn = await Chat(service, "chen").say("where is my transfer")
    assert turn.escalate is not None and turn.escalate.reason == "nothing_to_act_on"
    assert "transfers" in turn.say
