"""What the flows read from a message themselves: slots, yes/no/cancel, keyword flows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from handoff.selfservice import SelfService, Utterance
from handoff.selfservice.corebanking import DemoBank
from handoff.selfservice.phrases import is_cancel, is_no, is_yes, reports_compromise
from handoff.selfservice.slots import AmountHint, CardHint, read_hints


@pytest.fixture(scope="module")
def service() -> SelfService:
    return SelfService(DemoBank())


@pytest.mark.parametrize(
    ("text", "expecting", "card"),
    [
        ("freeze my card ending 1234", None, CardHint(last4="1234")),
        ("the one that ends in 5678", None, CardHint(last4="5678")),
        ("1234", "card", CardHint(last4="1234")),
        ("1234", None, CardHint()),
        ("my credit card", None, CardHint(kind="credit")),
        ("Visa debit ending 1234", "card", CardHint("1234", "debit", "visa")),
        ("cancel my direct debit", None, CardHint()),
        ("the mastercard", "card", CardHint(network="mastercard")),
    ],
)
def test_card_hints_from_text(text: str, expecting: str | None, card: CardHint) -> None:
    assert read_hints({}, text, expecting).card == card


@pytest.mark.parametrize(
    ("text", "expecting", "amount"),
    [
        ("raise my limit to 3000", None, AmountHint(Decimal(3000), None)),
        ("€2,500.50", None, AmountHint(Decimal("2500.50"), "EUR")),
        ("make it 200 pounds", None, AmountHint(Decimal(200), "GBP")),
        ("3k", "amount", AmountHint(Decimal(3000), None)),
        ("1500", "amount", AmountHint(Decimal(1500), None)),
        ("1500", None, None),
        ("limit of my card ending 1234", None, None),
        ("set the limit on card ending 1234 to 800 usd", None, AmountHint(Decimal(800), "USD")),
    ],
)
def test_amount_hints_from_text(
    text: str, expecting: str | None, amount: AmountHint | None
) -> None:
    assert read_hints({}, text, expecting).amount == amount


def test_transfer_references_from_text() -> None:
    assert read_hints({}, "where is tr-1001?").transfer_ref == "TR-1001"
    assert read_hints({}, "TR 2001").transfer_ref == "TR-2001"
    assert read_hints({}, "it's 1003", "transfer_ref").transfer_ref == "TR-1003"
    assert read_hints({}, "it's 1003").transfer_ref is None


def test_the_understandings_slots_come_first() -> None:
    hints = read_hints(
        {
            "card": {"last4": "5678", "kind": "credit"},
            "account": {"name": "savings"},
            "transfer_ref": "tr-1002",
            "amount": {"value": "2500", "currency": "eur"},
        },
        "ending 1234 for 3000 GBP",
    )
    assert hints.card == CardHint(last4="5678", kind="credit")
    assert hints.account_name == "savings"
    assert hints.transfer_ref == "TR-1002"
    assert hints.amount == AmountHint(Decimal(2500), "EUR")


def test_malformed_slots_are_ignored() -> None:
    hints = read_hints(
        {
            "card": {"last4": 1234, "kind": "platinum"},
            "account": "savings",
            "amount": {"value": "lots"},
            "transfer_ref": 17,
        },
        "hello",
    )
    assert hints.card == CardHint()
    assert hints.account_name is None
    assert hints.amount is None
    assert hints.transfer_ref is None


@pytest.mark.parametrize("text", ["yes", "Yes please", "yep, go ahead", "OK", "sure", "do it"])
def test_yes(text: str) -> None:
    assert is_yes(text)
    assert not is_no(text)


@pytest.mark.parametrize("text", ["no", "No thanks", "nope", "don't", "no, leave it"])
def test_no(text: str) -> None:
    assert is_no(text)
    assert not is_yes(text)


@pytest.mark.parametrize("text", ["cancel", "Never mind!", "stop", "forget it", "ok cancel"])
def test_cancel(text: str) -> None:
    assert is_cancel(text)


@pytest.mark.parametrize("text", ["stop my card", "cancel my transfer", "yes"])
def test_not_cancel(text: str) -> None:
    assert not is_cancel(text)


@pytest.mark.parametrize(
    "text",
    [
        "someone used my card",
        "Somebody has been using my credit card online",
        "there are payments I didn't make",
        "I don't recognise this payment",
        "my card details were compromised",
    ],
)
def test_compromise(text: str) -> None:
    assert reports_compromise(text)


@pytest.mark.parametrize("text", ["I lost my card", "freeze my card", "I used my card at an ATM"])
def test_not_compromise(text: str) -> None:
    assert not reports_compromise(text)


@pytest.mark.parametrize(
    ("intent", "flow"),
    [
        ("lost_or_stolen_card", "report_lost_card"),
        ("card_swallowed", "report_lost_card"),
        ("pending_transfer", "transfer_status"),
        ("transfer_not_received_by_recipient", "transfer_status"),
        ("failed_transfer", "transfer_status"),
        ("balance_not_updated_after_bank_transfer", "transfer_status"),
        ("freeze_card", "freeze_card"),
        ("unfreeze_card", "unfreeze_card"),
        ("check_balance", "balance"),
        ("change_card_limit", "card_limit"),
        ("exchange_rate", None),
        ("compromised_card", None),
    ],
)
def test_flow_for_intent(service: SelfService, intent: str, flow: str | None) -> None:
    assert service.flow_for_intent(intent) == flow


@pytest.mark.parametrize(
    ("text", "flow"),
    [
        ("freeze my card", "freeze_card"),
        ("Can you block my credit card please", "freeze_card"),
        ("please unfreeze it", "unfreeze_card"),
        ("I found my lost card, unfreeze it", "unfreeze_card"),
        ("I lost my card, freeze it", "report_lost_card"),
        ("my card was stolen", "report_lost_card"),
        ("what's my balance", "balance"),
        ("How much money do I have?", "balance"),
        ("raise my card limit", "card_limit"),
        ("increase my daily limit to 3000", "card_limit"),
        ("where is my transfer", "transfer_status"),
        ("what's the status of TR-1001", "transfer_status"),
        ("my balance hasn't updated after the cheque", None),
        ("what are the top up limits", None),
        ("how do I change my PIN", None),
    ],
)
def test_flow_for_keywords(service: SelfService, text: str, flow: str | None) -> None:
    assert service.flow_for_text(text) == flow


def test_keywords_beat_the_classifier_and_unsure_intents_start_nothing(
    service: SelfService,
) -> None:
    freeze = Utterance("freeze my card", "lost_or_stolen_card", 0.9)
    assert service.flow_for(freeze) == "freeze_card"
    assert service.flow_for(Utterance("it was taken", "lost_or_stolen_card", 0.9)) == (
        "report_lost_card"
    )
    assert service.flow_for(Utterance("it was taken", "lost_or_stolen_card", 0.3)) is None
    assert service.flow_for(Utterance("hello", "greeting", 0.99)) is None
