"""A flow's state survives JSON and is read back from the conversation's log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from handoff.selfservice import FlowState, flow_state_from_history
from sessions.events import Event

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
STATE = FlowState(
    "card_limit",
    {
        "card": {"id": "card-alice-debit", "last4": "1234", "label": "Visa debit ending 1234"},
        "amount": {"value": "2500.00", "currency": "EUR"},
    },
    "confirm",
    attempts=1,
)


def test_json_round_trip() -> None:
    raw = json.loads(json.dumps(STATE.to_json()))
    assert FlowState.from_json(raw) == STATE


def test_attempts_default_to_zero() -> None:
    state = FlowState.from_json({"flow": "balance", "slots": {}, "awaiting": "account"})
    assert state.attempts == 0


@pytest.mark.parametrize(
    "raw",
    [
        {"slots": {}, "awaiting": "card"},
        {"flow": "", "slots": {}, "awaiting": "card"},
        {"flow": "freeze_card", "slots": [], "awaiting": "card"},
        {"flow": "freeze_card", "slots": {"pizza": 1}, "awaiting": "card"},
        {"flow": "freeze_card", "slots": {}, "awaiting": "pizza"},
        {"flow": "freeze_card", "slots": {}, "awaiting": "card", "attempts": -1},
        {"flow": "freeze_card", "slots": {}, "awaiting": "card", "attempts": True},
    ],
)
def test_malformed_state_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="flow state"):
        FlowState.from_json(raw)


class Log:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def add(self, type_: Any, actor: str, data: dict[str, Any]) -> Log:
        self.events.append(Event("c-1", len(self.events) + 1, type_, AT, actor, data))
        return self

    def handler(self, new: str) -> Log:
        return self.add("handler.changed", "system", {"from": "none", "to": new, "reason": "x"})

    def customer(self, text: str) -> Log:
        return self.add("message.sent", "customer:alice", {"text": text})

    def bot(self, text: str, flow: Any = None) -> Log:
        data: dict[str, Any] = {"text": text, "kind": "answer", "intent": None, "suggestions": []}
        if flow is not None:
            data["flow"] = flow
        return self.add("message.sent", "bot", data)


def test_the_state_of_the_last_bot_question_is_found() -> None:
    log = Log().handler("bot").customer("raise my limit").bot("Which card?", STATE.to_json())
    assert flow_state_from_history(log.customer("1234").events) == STATE


def test_a_later_bot_message_without_a_flow_ends_it() -> None:
    log = Log().handler("bot").bot("Which card?", STATE.to_json()).customer("x").bot("Done.")
    assert flow_state_from_history(log.customer("thanks").events) is None


def test_a_change_of_handler_ends_it() -> None:
    log = Log().handler("bot").bot("Which card?", STATE.to_json()).customer("a person please")
    log.handler("queue").handler("agent:ben").add(
        "message.sent", "agent:ben", {"text": "Hi, Ben here"}
    )
    assert flow_state_from_history(log.handler("bot").customer("hello").events) is None


def test_messages_from_others_do_not_hide_the_state() -> None:
    log = Log().handler("bot").bot("Which card?", STATE.to_json())
    log.customer("hmm").add("message.read", "customer:alice", {"seq": 2}).customer("1234")
    assert flow_state_from_history(log.events) == STATE


def test_an_unreadable_state_is_none() -> None:
    log = Log().handler("bot").bot("Which card?", {"flow": "card_limit", "awaiting": 3})
    assert flow_state_from_history(log.customer("1234").events) is None
    assert flow_state_from_history(Log().bot("Hi", "not a state").events) is None
    assert flow_state_from_history([]) is None
