"""The shipped ticket categories, and the loader's refusal of broken category files."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from handoff.tickets.taxonomy import Taxonomy, load_taxonomy, parse_taxonomy

ROOT = Path(__file__).resolve().parents[2]
_DATASET_FILES = (
    ROOT / "handoff" / "understanding" / "data" / "banking77" / "categories.json",
    Path("/work/shared/datasets/banking77/categories.json"),
)
# The 77 BANKING77 intents as the classifier spells them (two oddly), for machines
# without the data set.
_BANKING77_NAMES = """
card_arrival card_linking exchange_rate card_payment_wrong_exchange_rate
extra_charge_on_statement pending_cash_withdrawal fiat_currency_support
card_delivery_estimate automatic_top_up card_not_working exchange_via_app
lost_or_stolen_card age_limit pin_blocked contactless_not_working
top_up_by_bank_transfer_charge pending_top_up cancel_transfer top_up_limits
wrong_amount_of_cash_received card_payment_fee_charged transfer_not_received_by_recipient
supported_cards_and_currencies getting_virtual_card card_acceptance top_up_reverted
balance_not_updated_after_cheque_or_cash_deposit card_payment_not_recognised
edit_personal_details why_verify_identity unable_to_verify_identity get_physical_card
visa_or_mastercard topping_up_by_card disposable_card_limits compromised_card atm_support
direct_debit_payment_not_recognised passcode_forgotten declined_cash_withdrawal
pending_card_payment lost_or_stolen_phone request_refund declined_transfer
Refund_not_showing_up declined_card_payment pending_transfer terminate_account
card_swallowed transaction_charged_twice verify_source_of_funds transfer_timing
reverted_card_payment? change_pin beneficiary_not_allowed transfer_fee_charged
receiving_money failed_transfer transfer_into_account verify_top_up getting_spare_card
top_up_by_cash_or_cheque order_physical_card virtual_card_not_working
wrong_exchange_rate_for_cash_withdrawal get_disposable_virtual_card top_up_failed
balance_not_updated_after_bank_transfer cash_withdrawal_not_recognised exchange_charge
top_up_by_card_charge activate_my_card cash_withdrawal_charge card_about_to_expire
apple_pay_or_google_pay verify_my_identity country_support
"""
_BANKING77 = _BANKING77_NAMES.split()
EXPECTED_CATEGORIES = {
    "Cards",
    "Payments",
    "Transfers",
    "Account",
    "Security/Fraud",
    "Top-up",
    "Exchange",
    "General",
}
FRAUD = {
    "compromised_card",
    "card_payment_not_recognised",
    "cash_withdrawal_not_recognised",
    "direct_debit_payment_not_recognised",
    "lost_or_stolen_card",
    "lost_or_stolen_phone",
}


@pytest.fixture(scope="module")
def shipped() -> Taxonomy:
    return load_taxonomy()


def test_the_fallback_list_is_the_data_set() -> None:
    assert len(_BANKING77) == len(set(_BANKING77)) == 77
    for path in _DATASET_FILES:
        if path.is_file():
            assert set(json.loads(path.read_text(encoding="utf-8"))) == set(_BANKING77)


def test_every_banking77_intent_is_mapped_and_nothing_else(shipped: Taxonomy) -> None:
    assert set(shipped.intents) == set(_BANKING77)


def test_the_categories_are_the_agreed_ones(shipped: Taxonomy) -> None:
    assert set(shipped.categories) == EXPECTED_CATEGORIES
    assert shipped.fallback == ("General", "Other")
    used = {entry.category for entry in shipped.intents.values()}
    assert used == EXPECTED_CATEGORIES


def test_every_mapping_is_consistent_and_has_a_request(shipped: Taxonomy) -> None:
    for intent, entry in shipped.intents.items():
        assert entry.intent == intent
        assert shipped.allows(entry.category, entry.sub_category), intent
        assert entry.request.endswith("."), intent
        assert len(entry.request) <= 120, intent


def test_fraud_and_lost_items_file_as_security(shipped: Taxonomy) -> None:
    for intent in FRAUD:
        assert shipped.intents[intent].category == "Security/Fraud", intent


def test_sub_categories_are_listed_once_in_file_order(shipped: Taxonomy) -> None:
    names = shipped.sub_categories
    assert len(names) == len(set(names))
    assert names[0] == "Delivery"
    assert "Fees" in names  # shared by several categories, listed once
    assert shipped.allows("Transfers", "Fees") and shipped.allows("Top-up", "Fees")
    assert not shipped.allows("Cards", "Refunds")
    assert shipped.for_intent(None) is None
    assert shipped.for_intent("no_such_intent") is None


def _document() -> dict[str, Any]:
    return {
        "categories": {"Cards": ["Delivery"], "General": ["Other"]},
        "fallback": {"category": "General", "sub_category": "Other"},
        "intents": {
            "card_arrival": {
                "category": "Cards",
                "sub_category": "Delivery",
                "request": "Wants their card.",
            }
        },
    }


def test_a_minimal_document_parses() -> None:
    taxonomy = parse_taxonomy(_document())
    assert taxonomy.intents["card_arrival"].sub_category == "Delivery"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["intents"]["card_arrival"].update(category="Loans"), "'Loans' is not in"),
        (
            lambda d: d["intents"]["card_arrival"].update(sub_category="Other"),
            "'Other' is not a sub-category of 'Cards'",
        ),
        (lambda d: d["intents"]["card_arrival"].pop("request"), "must have exactly"),
        (lambda d: d["intents"]["card_arrival"].update(request=" "), "non-empty string"),
        (lambda d: d["fallback"].update(sub_category="Delivery"), "[fallback]"),
        (lambda d: d.pop("fallback"), "[fallback]"),
        (lambda d: d["categories"].update(Cards=[]), "at least one sub-category"),
        (lambda d: d["categories"].update(Cards=["A", "A"]), "same sub-category twice"),
        (lambda d: d.update(extra={}), "unknown table(s) extra"),
        (lambda d: d.update(intents={}), "[intents]"),
    ],
)
def test_broken_documents_are_refused_with_a_reason(change: Any, message: str) -> None:
    document = _document()
    change(document)
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_taxonomy(document)


def test_a_broken_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "categories.toml"
    path.write_text("[categories\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML") as caught:
        load_taxonomy(path)
    assert str(path) in str(caught.value)
    with pytest.raises(ValueError, match="cannot read"):
        load_taxonomy(tmp_path / "missing.toml")
