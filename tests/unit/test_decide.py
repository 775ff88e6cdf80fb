from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions import commands as c
from sessions.decide import decide
from sessions.errors import DomainError
from sessions.events import Event, NewEvent
from sessions.state import ConversationState, apply

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def run(state: ConversationState, command: c.Command) -> tuple[ConversationState, list[NewEvent]]:
    new = decide(state, command, NOW)
    for event in new:
        state = apply(state, Event.stored(state.id, state.last_seq + 1, event))
    return state, new


def started() -> ConversationState:
    state, _ = run(ConversationState(id="c1"), c.StartConversation("alice"))
    return state


def with_agent(agent: str = "anna") -> ConversationState:
    state, _ = run(started(), c.Escalate("customer:alice", "customer_request"))
    state, _ = run(state, c.AssignAgent(agent))
    return state


def refused(state: ConversationState, command: c.Command) -> str:
    with pytest.raises(DomainError) as caught:
        decide(state, command, NOW)
    return caught.value.code


def test_start_opens_with_the_bot_as_one_logged_switch() -> None:
    state, new = run(ConversationState(id="c1"), c.StartConversation("alice", "chat"))
    assert [e.type for e in new] == ["conversation.started", "handler.changed"]
    assert new[1].data == {"from": "none", "to": "bot", "reason": "start"}
    assert (state.status, state.handler, state.customer_id, state.last_seq) == (
        "open",
        "bot",
        "alice",
        2,
    )
    assert refused(state, c.StartConversation("alice")) == "invalid_state"


def test_unknown_channel_is_refused() -> None:
    assert refused(ConversationState(id="c1"), c.StartConversation("alice", "fax")) == (
        "invalid_payload"
    )


def test_commands_on_a_missing_conversation_are_not_found() -> None:
    assert refused(ConversationState(id="x"), c.SendMessage("customer:alice", "hi")) == "not_found"


def test_customer_may_write_only_their_own_conversation() -> None:
    state = started()
    _, new = run(state, c.SendMessage("customer:alice", "  hello  "))
    assert new[0].data == {"text": "hello"}
    assert refused(state, c.SendMessage("customer:mallory", "hi")) == "not_found"
    assert refused(state, c.SendMessage("customer:alice", "   ")) == "invalid_payload"


def test_escalation_switches_bot_to_queue_with_context() -> None:
    state, new = run(
        started(),
        c.Escalate("bot", "sensitive_intent", "fraud", {"intent": "fraud", "summary": "s"}),
    )
    assert new[0].data["from"] == "bot" and new[0].data["to"] == "queue"
    assert new[0].data["context"] == {"intent": "fraud", "summary": "s", "queue": "fraud"}
    assert state.handler == "queue"
    assert refused(state, c.Escalate("customer:alice", "again")) == "invalid_state"


def test_bot_may_not_speak_once_it_no_longer_serves() -> None:
    state, _ = run(started(), c.Escalate("customer:alice", "customer_request"))
    assert refused(state, c.SendMessage("bot", "late answer")) == "invalid_state"


def test_assign_only_from_the_queue() -> None:
    assert refused(started(), c.AssignAgent("anna")) == "invalid_state"
    state = with_agent("anna")
    assert state.handler == "agent:anna"
    assert refused(state, c.AssignAgent("ben")) == "invalid_state"


def test_only_the_serving_agent_acts() -> None:
    state = with_agent("anna")
    run(state, c.SendMessage("agent:anna", "Hello, Anna here"))
    assert refused(state, c.SendMessage("agent:ben", "hijack")) == "forbidden"
    assert refused(state, c.HandBack("agent:ben")) == "forbidden"
    assert refused(state, c.CloseConversation("agent:ben")) == "forbidden"
    assert refused(state, c.Transfer("agent:ben", to_queue="general")) == "forbidden"


def test_hand_back_returns_to_the_bot() -> None:
    state, new = run(with_agent(), c.HandBack("agent:anna", note="resolved card issue"))
    assert new[0].data["from"] == "agent:anna" and new[0].data["to"] == "bot"
    assert new[0].data["reason"] == "handback"
    assert state.handler == "bot"


def test_transfer_to_agent_or_queue() -> None:
    state, new = run(with_agent("anna"), c.Transfer("agent:anna", to_agent="ben", note="fx"))
    assert state.handler == "agent:ben" and new[0].data["context"] == {"note": "fx"}
    state, new = run(state, c.Transfer("agent:ben", to_queue="cards"))
    assert state.handler == "queue" and new[0].data["context"]["queue"] == "cards"
    assert refused(with_agent("anna"), c.Transfer("agent:anna", to_agent="anna")) == (
        "invalid_state"
    )
    assert refused(with_agent("anna"), c.Transfer("agent:anna")) == "invalid_payload"
    assert refused(with_agent("anna"), c.Transfer("agent:anna", "ben", "general")) == (
        "invalid_payload"
    )


def test_system_requeues_a_lost_agents_conversation() -> None:
    state, _ = run(with_agent("anna"), c.Transfer("system", to_queue="general"))
    assert state.handler == "queue"
    assert refused(started(), c.Transfer("system", to_queue="general")) == "invalid_state"


def test_close_is_a_switch_to_none_then_closed_and_final() -> None:
    state, new = run(with_agent(), c.CloseConversation("agent:anna", "resolved"))
    assert [e.type for e in new] == ["handler.changed", "conversation.closed"]
    assert new[0].data["to"] == "none"
    assert (state.status, state.handler) == ("closed", "none")
    assert refused(state, c.SendMessage("customer:alice", "hello?")) == "conversation_closed"
    assert refused(state, c.CloseConversation("customer:alice")) == "conversation_closed"


def test_read_receipts_move_forward_only() -> None:
    state, _ = run(started(), c.SendMessage("customer:alice", "hi"))
    state, new = run(state, c.MarkRead("customer:alice", 3))
    assert new[0].data == {"up_to_seq": 3}
    assert state.read_marks == {"customer:alice": 3}
    assert decide(state, c.MarkRead("customer:alice", 2), NOW) == []
    assert refused(state, c.MarkRead("customer:alice", 99)) == "invalid_payload"
    assert refused(state, c.MarkRead("agent:anna", 1)) == "forbidden"


def test_channels_are_legs_of_the_same_conversation() -> None:
    state, new = run(started(), c.OpenChannel("customer:alice", "call"))
    assert state.channels == {"chat", "call"} and len(new) == 1
    assert decide(state, c.OpenChannel("customer:alice", "call"), NOW) == []
    state, _ = run(state, c.CloseChannel("customer:alice", "call"))
    assert state.channels == {"chat"} and state.handler == "bot"


def test_apply_refuses_a_gap_in_seq() -> None:
    state = started()
    event = Event("c1", state.last_seq + 2, "message.sent", NOW, "bot", {"text": "x"})
    with pytest.raises(ValueError, match="does not follow"):
        apply(state, event)


def test_only_the_serving_bot_records_a_task() -> None:
    state, events = run(
        started(), c.RecordTask("bot", "freeze_card", "freeze", True, {"card": "1234"}, {"ok": 1})
    )
    assert [e.type for e in events] == ["task.completed"]
    assert events[0].data == {
        "flow": "freeze_card",
        "action": "freeze",
        "ok": True,
        "slots": {"card": "1234"},
        "result": {"ok": 1},
    }
    assert state.handler == "bot"
    assert refused(with_agent(), c.RecordTask("bot", "freeze_card", "freeze", True)) == "forbidden"
    assert refused(started(), c.RecordTask("customer:alice", "x", "y", True)) == "forbidden"


def test_an_agent_files_a_ticket_even_after_the_close() -> None:
    state, _ = run(with_agent(), c.CloseConversation("agent:anna"))
    assert state.status == "closed"
    _, events = run(state, c.FileTicket("agent:anna", {"category": "Cards"}))
    assert [(e.type, e.data) for e in events] == [
        ("ticket.filed", {"ticket": {"category": "Cards"}})
    ]
    assert refused(state, c.FileTicket("customer:alice", {})) == "forbidden"
    assert refused(state, c.SendMessage("agent:anna", "late")) == "conversation_closed"
