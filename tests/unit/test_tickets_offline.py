"""The offline filler: a ticket from a hand-built log and what was understood of it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from handoff.tickets import (
    Amount,
    SlotValue,
    Taxonomy,
    UnderstoodMessage,
    load_taxonomy,
    mask,
    prefill,
    understood_from_json,
)
from handoff.tickets.slots import amount_of, card_or_account_of, date_of
from tests.fakes.conversations import Log

CARD = "4111 1111 1111 1234"


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


def understood(seq: int, intent: str | None, confidence: float = 0.9, *slots: SlotValue) -> Any:
    return UnderstoodMessage(seq, intent, confidence, tuple(slots))


def lost_card_conversation() -> tuple[Log, list[UnderstoodMessage]]:
    log = Log()
    log.started()
    log.customer_says("hi")
    lost = log.customer_says(
        f"I lost my card {CARD} yesterday and someone took 120.50 EUR on 1 May"
    )
    log.bot_says("I'm sorry to hear that. I can block it now.", intent="lost_or_stolen_card")
    log.task(
        "report_lost_card",
        slots={"card": "…1234"},
        result={"status": "lost", "delivery_estimate": "2024-05-09"},
    )
    arrival = log.customer_says("When will the new card arrive?")
    log.bot_says("Within a week.", intent="card_arrival")
    log.customer_says("agent please")
    log.handover(
        "queue",
        intent="card_arrival",
        summary="Customer reported a lost card and asked when the new one arrives; then asked"
        " for a person: 'agent please'.",
    )
    log.handover("agent:a-1", reason="accepted")
    log.agent_says("Hello, I can see the card is blocked.")
    log.customer_says("I also want the 120.50 refunded please")
    nlu = [
        understood(
            lost,
            "lost_or_stolen_card",
            0.93,
            SlotValue("amount", "120.50 EUR", {"value": "120.50", "currency": "EUR"}),
            SlotValue("date", "1 May", {"date": "2024-05-01"}),
            SlotValue("card_number", CARD, CARD.replace(" ", "")),
        ),
        understood(arrival, "card_arrival", 0.88),
    ]
    return log, nlu


def test_a_lost_card_conversation(taxonomy: Taxonomy) -> None:
    log, nlu = lost_card_conversation()
    ticket = prefill(log.events, nlu, taxonomy=taxonomy)
    # Fraud and losses outrank the later question about the new card.
    assert (ticket.category, ticket.sub_category) == ("Security/Fraud", "Lost or stolen card")
    assert ticket.intent == "lost_or_stolen_card"
    assert ticket.amounts == (Amount("120.50", "EUR"),)
    assert ticket.dates == ("2024-05-01",)
    assert ticket.card_or_account == "card ending 1234"
    assert ticket.customer_request == (
        "I lost my card [card ending 1234] yesterday and someone took 120.50 EUR on 1 May"
    )
    assert ticket.resolution == (
        "Self-service report lost card: done (status lost, delivery estimate 2024-05-09)."
    )
    assert ticket.summary.startswith("Customer reported a lost card")
    assert ticket.resolution in ticket.summary
    assert ticket.summary.endswith(
        "Last customer message: 'I also want the 120.50 refunded please'."
    )
    assert ticket.filled_by == "offline"
    assert dict(ticket.sources) == {
        "category": "intent",
        "sub_category": "intent",
        "amounts": "slots",
        "dates": "slots",
        "card_or_account": "slots",
        "customer_request": "message",
        "resolution": "task",
        "summary": "handoff",
    }


def test_no_full_card_number_reaches_the_ticket(taxonomy: Taxonomy) -> None:
    log, nlu = lost_card_conversation()
    text = str(prefill(log.events, nlu, taxonomy=taxonomy).to_json())
    assert re.search(r"\d{5,}", text.replace(" ", "")) is None


def test_the_latest_confident_intent_files_the_ticket(taxonomy: Taxonomy) -> None:
    log = Log()
    first = log.customer_says("How long does a transfer to Spain take?")
    second = log.customer_says("And is there a fee for the transfer?")
    third = log.customer_says("Also my top up seems stuck somewhere")
    nlu = [
        understood(first, "transfer_timing", 0.9),
        understood(second, "transfer_fee_charged", 0.8),
        understood(third, "pending_top_up", 0.3),  # too unsure to file under
    ]
    ticket = prefill(log.events, nlu, taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("Transfers", "Fees")
    assert ticket.customer_request == "And is there a fee for the transfer?"


def test_without_understanding_the_bot_and_the_handover_give_the_intent(
    taxonomy: Taxonomy,
) -> None:
    log = Log()
    log.customer_says("my card got eaten by the cash machine")
    log.bot_says("Sorry, I did not get that.", kind="fallback", intent="atm_support")
    assert prefill(log.events, taxonomy=taxonomy).category == "General"
    log.handover("queue", reason="not_understood", intent="card_swallowed", summary="Lost.")
    ticket = prefill(log.events, taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("Cards", "ATM & cash withdrawals")
    log.bot_says("You can order a new card in the app.", intent="order_physical_card")
    assert prefill(log.events, taxonomy=taxonomy).sub_category == "Ordering & activation"


def test_nothing_understood_files_under_the_fallback(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("hello")
    log.customer_says("agent")
    ticket = prefill(log.events, [understood(1, "not_a_banking77_intent")], taxonomy=taxonomy)
    assert (ticket.category, ticket.sub_category) == ("General", "Other")
    assert ticket.customer_request == "Not stated by the customer."
    assert ticket.intent is None
    assert ticket.sources["category"] == "default"


def test_an_empty_log_still_gives_a_valid_ticket(taxonomy: Taxonomy) -> None:
    ticket = prefill([], taxonomy=taxonomy)
    assert ticket.summary == "No customer request was recorded in the conversation."
    assert ticket.resolution == "" and ticket.amounts == ()


def test_the_request_falls_back_to_the_intents_words(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("hi")
    log.bot_says("Here is how to top up by card.", intent="topping_up_by_card")
    ticket = prefill(log.events, taxonomy=taxonomy)
    assert ticket.customer_request == "Wants to top up with a card."
    assert ticket.sources["customer_request"] == "intent"


def test_greetings_and_requests_for_a_person_are_not_the_request(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("Hello, good morning!")
    log.customer_says("can I talk to a person please")
    log.customer_says("My PIN is blocked after three tries")
    ticket = prefill(log.events, taxonomy=taxonomy)
    assert ticket.customer_request == "My PIN is blocked after three tries"


def test_without_a_handover_the_summary_comes_from_the_transcript(taxonomy: Taxonomy) -> None:
    log = Log()
    asked = log.customer_says("Why was my card payment at the bakery declined?")
    log.bot_says("Payments can be declined for ...", intent="declined_card_payment")
    log.customer_says("and my contactless is not working either")
    log.bot_says("Try a chip payment first ...", intent="contactless_not_working")
    nlu = [understood(asked, "declined_card_payment", 0.95)]
    ticket = prefill(log.events, nlu, taxonomy=taxonomy)
    assert ticket.sources["summary"] == "transcript"
    assert ticket.summary == (
        "Cards / Card not working: Reports that contactless payments are not working."
        " Customer wrote: 'Why was my card payment at the bakery declined?'."
        " Bot answered about: Payments / Declined payment; Cards / Card not working."
        " Last customer message: 'and my contactless is not working either'."
    )


def test_a_failed_task_and_a_card_from_the_task(taxonomy: Taxonomy) -> None:
    log = Log()
    log.customer_says("please unfreeze my card now")
    log.task("unfreeze_card", ok=False, slots={"card": "…9876"}, result={"error": "not_allowed"})
    ticket = prefill(log.events, taxonomy=taxonomy)
    assert ticket.resolution == "Self-service unfreeze card: failed (error not_allowed)."
    assert ticket.card_or_account == "card ending 9876"
    assert ticket.sources["card_or_account"] == "task"


def test_several_amounts_and_dates_keep_their_order_without_repeats(
    taxonomy: Taxonomy,
) -> None:
    log = Log()
    seq = log.customer_says("Charged 12.50 and 8 GBP twice between 1 and 7 May")
    slots = [
        SlotValue("amount", "12.50", "12.50 EUR"),
        SlotValue("money", "8 GBP", {"amount": 8, "unit": "gbp"}),
        SlotValue("amount", "12.50", {"value": "12.50", "currency": "EUR"}),
        SlotValue(
            "date_range", "between 1 and 7 May", {"start": "2024-05-01", "end": "2024-05-07"}
        ),
        SlotValue("date", "garbage", "next-ish week"),
        SlotValue("account", "acc", {"number": "GB82WEST12345698765432"}),
    ]
    ticket = prefill(log.events, [understood(seq, "transaction_charged_twice", 0.9, *slots)])
    assert ticket.amounts == (Amount("12.50", "EUR"), Amount("8", "GBP"))
    assert ticket.dates == ("2024-05-01/2024-05-07",)
    assert ticket.card_or_account == "account ending 5432"


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        ({"value": "12.50", "currency": "EUR"}, "", Amount("12.50", "EUR")),
        ({"amount": 12.5, "currency": "usd"}, "", Amount("12.5", "USD")),
        ({"amount": "1,250.00", "currency": "$"}, "", Amount("1250.00", "USD")),
        ("€1.250,99", "", Amount("1250.99", "EUR")),
        ("12,50 EUR", "", Amount("12.50", "EUR")),
        ("about 30", "", Amount("30", None)),
        ({"value": None}, "£7.20", Amount("7.20", "GBP")),
        ("lots", "", None),
        ({"value": "-5", "currency": "EUR"}, "", None),
        ({"value": True, "currency": "EUR"}, "", None),
    ],
)
def test_amounts_are_read_leniently(value: Any, text: str, expected: Amount | None) -> None:
    assert amount_of(value, text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01", "2024-05-01"),
        ("2024-05-01T10:00:00+00:00", "2024-05-01"),
        ({"value": "2024-05-01"}, "2024-05-01"),
        ({"from": "2024-05-01", "to": "2024-05-01"}, "2024-05-01"),
        ("2024-05-01/2024-05-31", "2024-05-01/2024-05-31"),
        ({"start": "2024-05-31", "end": "2024-05-01"}, None),
        ("yesterday", None),
        ({"date": 20240501}, None),
    ],
)
def test_dates_are_read_as_iso(value: Any, expected: str | None) -> None:
    assert date_of(value) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("card", "…1234", "card ending 1234"),
        ("card_number", "4111-1111-1111-1234", "card ending 1234"),
        ("last4", {"last4": "4321"}, "card ending 4321"),
        ("iban", "GB82 WEST 1234 5698 7654 32", "account ending 5432"),
        ("card", "my credit card", None),
        ("amount", "1234", None),
    ],
)
def test_cards_and_accounts_keep_only_their_last_digits(
    name: str, value: Any, expected: str | None
) -> None:
    assert card_or_account_of(name, value) == expected


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"card {CARD} please", "card [card ending 1234] please"),
        ("4111111111111234", "[card ending 1234]"),
        ("4111\n1111\n1111\n1234", "[card ending 1234]"),
        ("my account 12345678", "my account [number]"),
        ("call me on 020 7946 0958", "call me on [number]"),
        ("IBAN GB82 WEST 1234 5698 7654 32.", "IBAN [account number]."),
        ("paid 1 250 000 EUR on 2024-05-01", "paid 1 250 000 EUR on 2024-05-01"),
        ("card ending 1234, PIN 1234", "card ending 1234, PIN 1234"),
    ],
)
def test_masking(text: str, masked: str) -> None:
    assert mask(text) == masked
    assert mask(masked) == masked


def test_understood_json_is_read_leniently() -> None:
    message = understood_from_json(
        7,
        {
            "intent": "card_arrival",
            "confidence": 0.7,
            "slots": [
                {"name": "date", "text": "monday", "value": "2024-05-06"},
                {"name": "broken"},
                "not a slot",
                {"name": "amount", "text": "5", "value": {"value": "5"}},
            ],
        },
    )
    assert message.seq == 7 and message.intent == "card_arrival" and message.confidence == 0.7
    assert [slot.name for slot in message.slots] == ["date", "amount"]
    empty = understood_from_json(1, {"intent": "", "confidence": True})
    assert empty.intent is None and empty.confidence == 0.0 and empty.slots == ()
