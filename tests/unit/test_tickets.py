"""The ticket: its JSON form (what the agent's UI submits), its validation, its schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from handoff.tickets import Amount, Ticket, TicketError, load_taxonomy, ticket_schema, validate
from handoff.tickets.schema import LLM_FIELDS, MAX_SUMMARY


def full_json() -> dict[str, Any]:
    return {
        "category": "Payments",
        "sub_category": "Refunds",
        "summary": "The customer asked for a refund of a double charge at a shop.",
        "customer_request": "Wants the second charge of 42.10 EUR refunded.",
        "resolution": "Agent opened a dispute.",
        "amounts": [{"value": "42.10", "currency": "EUR"}, {"value": "5", "currency": None}],
        "dates": ["2024-05-01", "2024-04-01/2024-04-30"],
        "card_or_account": "card ending 1234",
        "intent": "request_refund",
        "filled_by": "llm",
        "sources": {"summary": "llm", "amounts": "slots"},
    }


def test_json_round_trip_keeps_every_field() -> None:
    raw = full_json()
    ticket = Ticket.from_json(raw, taxonomy=load_taxonomy())
    assert ticket.amounts == (Amount("42.10", "EUR"), Amount("5", None))
    assert ticket.dates == ("2024-05-01", "2024-04-01/2024-04-30")
    assert ticket.to_json() == raw
    assert Ticket.from_json(json.loads(json.dumps(ticket.to_json()))) == ticket


def test_only_the_core_fields_are_required() -> None:
    ticket = Ticket.from_json(
        {
            "category": "General",
            "sub_category": "Other",
            "summary": "Asked about opening hours.",
            "customer_request": "Wants to know the opening hours.",
        }
    )
    assert ticket.resolution == ""
    assert ticket.amounts == () and ticket.dates == ()
    assert ticket.card_or_account is None and ticket.intent is None
    assert ticket.filled_by == "offline"
    assert dict(ticket.sources) == {}


def test_a_ticket_is_read_only_all_the_way_down() -> None:
    ticket = Ticket.from_json(full_json())
    with pytest.raises(AttributeError):
        ticket.summary = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ticket.sources["summary"] = "agent"  # type: ignore[index]
    assert hash(ticket) == hash(Ticket.from_json(full_json()))


def test_every_problem_is_reported_with_its_field() -> None:
    raw = full_json()
    del raw["summary"]
    raw["amounts"] = [{"value": "12,50", "currency": "eur"}]
    raw["card_or_account"] = 1234
    raw["colour"] = "red"
    with pytest.raises(TicketError) as caught:
        Ticket.from_json(raw)
    problems = caught.value.problems
    assert "ticket: missing summary" in problems
    assert any(p.startswith("ticket.amounts[0].value: '12,50'") for p in problems)
    assert any(p.startswith("ticket.amounts[0].currency: 'eur'") for p in problems)
    assert "ticket.card_or_account: must be string or null, not integer" in problems
    assert "ticket.colour: unknown field" in problems
    assert str(caught.value).startswith("invalid ticket: ")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("summary", "", "ticket.summary: must not be empty"),
        ("summary", "x" * (MAX_SUMMARY + 1), "ticket.summary: longer than 600"),
        ("customer_request", None, "ticket.customer_request: must be string, not null"),
        ("dates", ["2024-02-30"], "ticket.dates[0]: '2024-02-30' is not a real date"),
        ("dates", ["2024-05-07/2024-05-01"], "ends before it starts"),
        ("dates", ["May 1st"], "ticket.dates[0]: 'May 1st' does not match"),
        ("dates", "2024-05-01", "ticket.dates: must be array, not string"),
        ("amounts", [{"value": "-3", "currency": "EUR"}], "ticket.amounts[0].value"),
        ("amounts", [{"value": "3"}], "ticket.amounts[0]: missing currency"),
        ("card_or_account", "4111 1111 1111 1111", "must not hold a full card"),
        ("card_or_account", "account 12345678", "must not hold a full card"),
        ("filled_by", "agent", "ticket.filled_by: 'agent' is not one of"),
        ("sources", {"colour": "llm"}, "ticket.sources.colour: not a ticket field"),
        ("sources", {"summary": 3}, "ticket.sources.summary: must be string"),
        ("intent", False, "ticket.intent: must be string or null, not boolean"),
    ],
)
def test_invalid_fields_are_refused(field: str, value: Any, problem: str) -> None:
    raw = full_json()
    raw[field] = value
    with pytest.raises(TicketError) as caught:
        Ticket.from_json(raw)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_not_an_object_is_refused() -> None:
    with pytest.raises(TicketError, match="ticket: must be object, not array"):
        Ticket.from_json([])


def test_with_a_taxonomy_the_category_pair_must_exist() -> None:
    taxonomy = load_taxonomy()
    raw = full_json() | {"category": "Loans"}
    with pytest.raises(TicketError, match="'Loans' is not one of"):
        Ticket.from_json(raw, taxonomy=taxonomy)
    raw = full_json() | {"sub_category": "Delivery"}
    with pytest.raises(TicketError, match="'Delivery' is not a sub-category of 'Payments'"):
        Ticket.from_json(raw, taxonomy=taxonomy)
    Ticket.from_json(raw)  # without a taxonomy only the form is checked


def test_building_an_invalid_ticket_directly_fails_too() -> None:
    with pytest.raises(TicketError, match="card_or_account"):
        Ticket("Cards", "PIN", "s", "r", card_or_account="4111111111111111")
    with pytest.raises(TicketError, match="amounts"):
        Ticket("Cards", "PIN", "s", "r", amounts=(Amount("1e5", "EUR"),))


def test_the_llm_schema_is_strict_structured_output() -> None:
    # OpenAI-style strict mode: every object lists all its properties as required and
    # allows no others.
    schema = ticket_schema(load_taxonomy())
    json.dumps(schema)
    objects = [schema, schema["properties"]["amounts"]["items"]]
    for item in objects:
        assert item["additionalProperties"] is False
        assert sorted(item["required"]) == sorted(item["properties"])
    assert tuple(schema["properties"]) == LLM_FIELDS
    assert "Security/Fraud" in schema["properties"]["category"]["enum"]
    assert "Refunds" in schema["properties"]["sub_category"]["enum"]


def test_the_validator_checks_the_llm_schema() -> None:
    schema = ticket_schema(load_taxonomy())
    good = {key: value for key, value in full_json().items() if key in LLM_FIELDS}
    assert validate(good, schema) == []
    bad = dict(good, category="Loans", amounts=[{"value": 3, "currency": "EUR"}])
    del bad["dates"]
    bad["filled_by"] = "llm"
    assert validate(bad, schema) == [
        "ticket: missing dates",
        "ticket.category: 'Loans' is not one of 'Cards', 'Payments', 'Transfers', 'Account',"
        " 'Security/Fraud', 'Top-up', 'Exchange', 'General'",
        "ticket.amounts[0].value: must be string, not integer",
        "ticket.filled_by: unknown field",
    ]
    assert validate(True, {"type": "integer"}) == ["ticket: must be integer, not boolean"]
    assert validate([1, 2], {"type": "array", "maxItems": 1}, "x") == ["x: more than 1 items (2)"]


@pytest.mark.parametrize(
    "typed",
    [
        "4111.1111.1111.1111",
        "4111/1111/1111/1111",
        "4111_1111_1111_1111",
        "card4111111111111111",
        "4111111111111111x",
    ],
)
def test_card_numbers_are_masked_however_they_are_typed(typed: str) -> None:
    from sessions.masking import mask

    masked = mask(typed)
    assert "[card ending 1111]" in masked and "4111" not in masked


def test_a_lower_case_iban_is_an_account_number() -> None:
    from sessions.masking import mask

    assert mask("my iban is gb82 west 1234 5698 7654 32") == "my iban is [account number]"
