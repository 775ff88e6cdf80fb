"""Slot extraction: each slot kind's normalised value, ranges, and the NLU++ score floor.

Relative expressions resolve against Tuesday 2022-03-15 (09:00 where a clock is given),
the reference NLU++ was annotated with, so the expected dates can be checked by hand.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from handoff.understanding.datasets import load_nlupp
from handoff.understanding.evaluation import score_slots
from handoff.understanding.slots import (
    AccountReference,
    CardReference,
    DatePeriod,
    Money,
    Slot,
    SlotExtractor,
    SlotValue,
    TimePeriod,
    extract_slots,
    value_to_json,
)

TODAY = date(2022, 3, 15)
NOW = datetime(2022, 3, 15, 9, 0)


@pytest.fixture(scope="module")
def extractor() -> SlotExtractor:
    return SlotExtractor.bundled()


def slots(text: str, today: date = TODAY) -> dict[str, tuple[str, SlotValue]]:
    found = extract_slots(text, today=today)
    for slot in found:
        assert text[slot.span[0] : slot.span[1]] == slot.text
    return {slot.name: (slot.text, slot.value) for slot in found}


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("yes refund me the £27", "£27", Money(Decimal(27), "GBP")),
        ("I want that 40€ back!", "40€", Money(Decimal(40), "EUR")),
        ("a transfer of 56.79 pounds to Spain", "56.79 pounds", Money(Decimal("56.79"), "GBP")),
        ("more than a thousand dollars via ATM", "a thousand dollars", Money(Decimal(1000), "USD")),
        ("please send EUR 1,250.50 to Anna", "EUR 1,250.50", Money(Decimal("1250.5"), "EUR")),
        ("was it $6,476 or less", "$6,476", Money(Decimal(6476), "USD")),
        ("did I spend more than 400 in groceries", "400", Money(Decimal(400), None)),
        ("when did I pay 61.21 in Hyatt Regency?", "61.21", Money(Decimal("61.21"), None)),
        ("can I get 2k dollars out", "2k dollars", Money(Decimal(2000), "USD")),
    ],
)  # fmt: skip
def test_amounts_are_decimals_with_an_iso_currency(text: str, span: str, value: Money) -> None:
    assert slots(text)["amount_of_money"] == (span, value)


@pytest.mark.parametrize(
    "text",
    ["I have been waiting 5 days", "my card ending 1234", "since 2019", "I tried 3 times",
     "at 10 past 7", "the 18th"],
)  # fmt: skip
def test_numbers_that_are_not_money_are_not_amounts(text: str) -> None:
    assert "amount_of_money" not in slots(text)


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("I lost it yesterday", "yesterday", date(2022, 3, 14)),
        ("make it the day after tomorrow", "day after tomorrow", date(2022, 3, 17)),
        ("i lost my card last Thursday", "last Thursday", date(2022, 3, 10)),
        ("when is the meeting on Tuesday", "Tuesday", date(2022, 3, 22)),
        ("can it arrive this Saturday", "this Saturday", date(2022, 3, 19)),
        ("no, next Saturday", "next Saturday", date(2022, 3, 26)),
        ("it was Saturday last week", "Saturday last week", date(2022, 3, 12)),
        ("the Jan the 19th please", "Jan the 19th", date(2023, 1, 19)),
        ("on the 21 June 2016", "21 June 2016", date(2016, 6, 21)),
        ("I opened it on 9/3/2019", "9/3/2019", date(2019, 3, 9)),
        ("can i transfer it in 7 days", "in 7 days", date(2022, 3, 22)),
        ("I paid it 8 weeks ago", "8 weeks ago", date(2022, 1, 18)),
        ("set it for the 18th", "18th", date(2022, 3, 18)),
        ("set it for the 5th", "5th", date(2022, 4, 5)),
        ("due by the end of this year", "end of this year", date(2022, 12, 31)),
    ],
)
def test_dates_resolve_relative_to_today(text: str, span: str, value: date) -> None:
    assert slots(text)["date"] == (span, value)


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("list all the transactions from last month", "last month",
         DatePeriod("absolute", date(2022, 2, 1), date(2022, 2, 28))),
        ("what did I spend this week", "this week",
         DatePeriod("absolute", date(2022, 3, 14), date(2022, 3, 20))),
        ("what happened in this quarter?", "this quarter",
         DatePeriod("absolute", date(2022, 1, 1), date(2022, 3, 31))),
        ("payments in the last 3 days", "last 3 days",
         DatePeriod("absolute", date(2022, 3, 12), date(2022, 3, 15))),
        ("where did I send money in October?", "October",
         DatePeriod("absolute", date(2022, 10, 1), date(2022, 10, 31))),
        ("still pending after 3 days", "3 days", DatePeriod("relative", days=3)),
        ("can I extend my loan for a year", "a year", DatePeriod("relative", days=365)),
        ("pay him on the 4th of each month", "4th of each month", DatePeriod("periodic")),
        ("did I get anything from him lately?", "lately", DatePeriod("ambiguous")),
    ],
)  # fmt: skip
def test_date_periods(text: str, span: str, value: DatePeriod) -> None:
    assert slots(text)["date_period"] == (span, value)


def test_a_range_has_a_start_and_an_end() -> None:
    found = slots("show my transactions from the 1st to the 7 June")
    assert found["date_from"] == ("1st", date(2022, 4, 1))
    assert found["date_to"] == ("7 June", date(2022, 6, 7))


def test_since_a_month_starts_at_its_first_day_and_until_ends_at_its_last() -> None:
    assert slots("how much have I paid them since April")["date_from"] == (
        "April",
        date(2022, 4, 1),
    )
    assert slots("how much did I spend until May")["date_to"] == ("May", date(2022, 5, 31))


def test_may_the_verb_is_not_a_month() -> None:
    assert slots("I may need more money this month").keys() == {"date_period"}


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("cancel the one at 2:35 p.m. on Dec 8th", "2:35 p.m.", time(14, 35)),
        ("what is going to happen if I don't pay before 2pm", "2pm", time(14, 0)),
        ("see you at 15 to 7 a.m. then", "15 to 7 a.m.", time(6, 45)),
        ("i have a meeting at 25 to 7 p.m.", "25 to 7 p.m.", time(18, 35)),
        ("send it after half past 17", "half past 17", time(17, 30)),
        ("cancel the meeting at 10 past 9 night", "10 past 9 night", time(21, 10)),
        ("Ok at 4", "4", time(4, 0)),
        ("maybe 10 o'clock?", "10 o'clock", time(10, 0)),
        ("anytime around midday please", "midday", time(12, 0)),
        ("can we do 9:45 in the evening", "9:45 in the evening", time(21, 45)),
        ("i need a transfer tomorrow at 0 45 p.m.", "0 45 p.m.", time(12, 45)),
    ],
)
def test_times_are_hours_and_minutes(text: str, span: str, value: time) -> None:
    assert slots(text)["time"] == (span, value)


def test_a_time_range_has_a_start_and_an_end() -> None:
    found = slots("I can make it between 9 05 in the morning and 25 to 7 p.m.")
    assert found["time_from"] == ("9 05 in the morning", time(9, 5))
    assert found["time_to"] == ("25 to 7 p.m.", time(18, 35))


def test_clock_relative_times_need_a_clock() -> None:
    assert slots("resend it in 8 hours", NOW)["time"] == ("in 8 hours", time(17, 0))
    assert "time" not in slots("resend it in 8 hours", TODAY)


def test_time_periods() -> None:
    assert slots("I can't find it for the last 3 hours", NOW)["time_period"] == (
        "last 3 hours",
        TimePeriod("absolute", time(6, 0), time(9, 0), 180),
    )
    assert slots("it's been out of order for 8 hours")["time_period"] == (
        "8 hours",
        TimePeriod("relative", minutes=480),
    )
    assert slots("move it to half an hour before")["time_period"] == (
        "half an hour",
        TimePeriod("relative", minutes=30),
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("I paid contactless at Waitrose but it got reverted", "Waitrose"),
        ("my debit card was rejected in Snappy Snaps", "Snappy Snaps"),
        ("remove the direct debit for scribbler", "scribbler"),
        ("how much did I spend at santore restaurant last week", "santore restaurant"),
        ("why was my Netflix payment taken twice", "Netflix"),
        ("No, this direct debit to M&S didn't exist before.", "M&S"),
    ],
)
def test_merchants(extractor: SlotExtractor, text: str, name: str) -> None:
    found = {s.name: s.value for s in extractor.extract(text, today=TODAY)}
    assert found.get("company_name") == name


@pytest.mark.parametrize(
    "text",
    [
        "how much did I spend on groceries this month",
        "I want to send money to my sister",
        "how much do I pay in total",
        "Next time please ask me first",
    ],
)
def test_categories_people_and_everyday_words_are_not_merchants(
    extractor: SlotExtractor, text: str
) -> None:
    found = {s.name for s in extractor.extract(text, today=TODAY)}
    assert "company_name" not in found


@pytest.mark.parametrize(
    ("text", "name", "span", "value"),
    [
        ("block my card ending 1234", "card", "card ending 1234", CardReference(None, "1234")),
        ("my credit card that ends in 9876 was declined", "card",
         "credit card that ends in 9876", CardReference("credit", "9876")),
        ("is my virtual card still active", "card", "virtual card", CardReference("virtual", None)),
        ("move it to my savings account", "account", "savings account",
         AccountReference("savings", None)),
        ("the account ending with 4321", "account", "account ending with 4321",
         AccountReference(None, "4321")),
    ],
)  # fmt: skip
def test_card_and_account_references(text: str, name: str, span: str, value: SlotValue) -> None:
    assert slots(text)[name] == (span, value)


def test_a_plain_my_card_picks_out_nothing() -> None:
    assert not {"card", "account"} & slots("my card does not work").keys()


def test_json_form_of_each_value_kind() -> None:
    assert value_to_json(Money(Decimal("56.79"), "GBP")) == {"amount": "56.79", "currency": "GBP"}
    assert value_to_json(date(2022, 3, 14)) == "2022-03-14"
    assert value_to_json(time(7, 5)) == "07:05"
    assert value_to_json(DatePeriod("relative", days=3)) == {
        "kind": "relative",
        "start": None,
        "end": None,
        "days": 3,
    }
    assert value_to_json(CardReference("credit", "1234")) == {"product": "credit", "last4": "1234"}
    assert value_to_json("Waitrose") == "Waitrose"


def test_slots_are_frozen_and_in_text_order() -> None:
    found = extract_slots("send £20 tomorrow at 5 pm to Tesco", today=TODAY)
    assert [slot.span for slot in found] == sorted(slot.span for slot in found)
    assert isinstance(found[0], Slot)
    with pytest.raises(AttributeError):
        found[0].name = "x"  # type: ignore[misc]


def test_nlupp_held_out_folds_stay_above_the_goal(extractor: SlotExtractor) -> None:
    # Folds 10-14 were not used to write the rules (see the package README): their
    # span F1 is the honest figure; the goal is 0.80.
    held_out = load_nlupp(range(10, 15))
    span = score_slots(held_out, mode="span", extractor=extractor)
    value = score_slots(held_out, mode="value", extractor=extractor)
    assert span.targeted.f1 >= 0.80
    assert value.targeted.f1 >= 0.80
    assert span.per_slot["amount_of_money"].f1 >= 0.95


def test_every_span_is_the_slot_text_on_all_nlupp_utterances(extractor: SlotExtractor) -> None:
    for example in load_nlupp():
        for slot in extractor.extract(example.text, today=NOW):
            assert example.text[slot.span[0] : slot.span[1]] == slot.text
