"""How much of an agent's capacity a call takes (`call_capacity_weight`)."""

from __future__ import annotations

from datetime import UTC, datetime

from handoff.presence import AgentPresence

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def agent(weight: int, *conversations: str) -> AgentPresence:
    presence = AgentPresence("anna", "Anna", 3, chosen="ready", connections=1, call_weight=weight)
    for conversation in conversations:
        presence = presence.with_conversation(conversation, NOW)
    return presence


def test_by_default_a_call_takes_the_whole_capacity() -> None:
    presence = agent(3, "c1")
    assert (presence.load, presence.status(NOW)) == (1, "ready")
    on_call = presence.with_call("c1", True)
    assert (on_call.load, on_call.status(NOW)) == (3, "busy")
    assert on_call.with_call("c1", False).load == 1


def test_a_lighter_weight_leaves_room_for_chats() -> None:
    presence = agent(2, "c1").with_call("c1", True)
    assert (presence.load, presence.status(NOW)) == (2, "ready")
    assert agent(2, "c1", "c2").with_call("c1", True).status(NOW) == "busy"
    assert agent(1, "c1").with_call("c1", True).load == 1


def test_a_call_counts_only_while_its_conversation_is_the_agents() -> None:
    presence = agent(3, "c1").with_call("c1", True).with_call("c9", True)
    assert presence.load == 3  # c9 is not (or no longer) hers
    released = presence.without_conversation("c1", None)
    assert (released.load, released.calls) == (0, frozenset({"c9"}))
