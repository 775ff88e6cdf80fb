"""The rules of calls in a conversation: who may start, answer, hold, transfer, end, record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions import commands as c
from sessions.decide import decide
from sessions.errors import DomainError
from sessions.events import Event, NewEvent
from sessions.state import ActiveCall, ConversationState, apply, fold

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
ALICE = "customer:alice"
ANNA = "agent:anna"
BEN = "agent:ben"


def run(state: ConversationState, command: c.Command) -> tuple[ConversationState, list[NewEvent]]:
    new = decide(state, command, NOW)
    for event in new:
        state = apply(state, Event.stored(state.id, state.last_seq + 1, event))
    return state, new


def refused(state: ConversationState, command: c.Command) -> str:
    with pytest.raises(DomainError) as caught:
        decide(state, command, NOW)
    return caught.value.code


def started() -> ConversationState:
    state, _ = run(ConversationState(id="c1"), c.StartConversation("alice"))
    return state


def served_by(agent: str = "anna") -> ConversationState:
    state, _ = run(started(), c.Escalate(ALICE, "customer_request"))
    state, _ = run(state, c.AssignAgent(agent))
    return state


def calling(state: ConversationState | None = None, media: str = "audio") -> ConversationState:
    state, _ = run(state or served_by(), c.StartCall(ALICE, "k1", media))
    return state


def talking() -> ConversationState:
    state, _ = run(calling(), c.AnswerCall(ANNA, "k1"))
    return state


def types(events: list[NewEvent]) -> list[str]:
    return [e.type for e in events]


def test_the_customer_starts_a_call_in_their_conversation_opening_the_call_channel() -> None:
    state, new = run(served_by(), c.StartCall(ALICE, "k1", "audio"))
    assert types(new) == ["channel.opened", "call.started"]
    assert new[0].data == {"channel": "call"}
    assert new[1].data == {"call_id": "k1", "media": "audio", "by": ALICE}
    assert state.call == ActiveCall("k1", "audio", "waiting")
    assert state.call_id == "k1"
    assert "call" in state.channels


def test_only_the_conversations_customer_starts_one_call_at_a_time() -> None:
    state = served_by()
    assert refused(state, c.StartCall("customer:mallory", "k1")) == "not_found"
    assert refused(state, c.StartCall(ANNA, "k1")) == "forbidden"
    assert refused(state, c.StartCall(ALICE, "k1", "fax")) == "invalid_payload"
    assert refused(state, c.StartCall(ALICE, "")) == "invalid_payload"
    assert refused(calling(state), c.StartCall(ALICE, "k2")) == "invalid_state"


def test_a_closed_conversation_takes_no_call() -> None:
    state, _ = run(served_by(), c.CloseConversation(ANNA))
    assert refused(state, c.StartCall(ALICE, "k1")) == "conversation_closed"


def test_only_the_serving_agent_answers_the_conversations_call() -> None:
    state = calling()
    assert refused(state, c.AnswerCall(BEN, "k1")) == "forbidden"
    assert refused(state, c.AnswerCall(ALICE, "k1")) == "forbidden"
    assert refused(state, c.AnswerCall(ANNA, "other")) == "not_found"
    state, new = run(state, c.AnswerCall(ANNA, "k1"))
    assert types(new) == ["call.answered"]
    assert new[0].data == {"call_id": "k1", "agent": "anna"}
    assert state.call is not None and (state.call.status, state.call.agent) == ("talking", "anna")
    # Answering again (the agent's connection dropped and they rejoin) is allowed.
    assert types(run(state, c.AnswerCall(ANNA, "k1"))[1]) == ["call.answered"]


def test_no_call_no_answer() -> None:
    assert refused(served_by(), c.AnswerCall(ANNA, "k1")) == "not_found"


def test_hold_and_resume_by_the_agent_on_the_call_are_idempotent() -> None:
    assert refused(calling(), c.HoldCall(ANNA, "k1")) == "invalid_state"  # not answered yet
    state = talking()
    assert refused(state, c.HoldCall(BEN, "k1")) == "forbidden"
    assert refused(state, c.HoldCall(ALICE, "k1")) == "forbidden"
    assert run(state, c.ResumeCall(ANNA, "k1"))[1] == []
    state, new = run(state, c.HoldCall(ANNA, "k1"))
    assert types(new) == ["call.held"] and new[0].data == {"call_id": "k1"}
    assert state.call is not None and state.call.status == "held"
    assert run(state, c.HoldCall(ANNA, "k1"))[1] == []
    state, new = run(state, c.ResumeCall(ANNA, "k1"))
    assert types(new) == ["call.resumed"]
    assert state.call is not None and state.call.status == "talking"


def test_a_transfer_to_an_agent_logs_the_call_following_and_offers_it_in_the_context() -> None:
    state, new = run(talking(), c.Transfer(ANNA, to_agent="ben"))
    assert types(new) == ["handler.changed", "call.transferred"]
    assert new[0].data["context"]["call"] == {"call_id": "k1", "media": "audio"}
    assert new[1].data == {"call_id": "k1", "from": ANNA, "to": BEN}
    # Anna talks on until Ben answers (make before break); only Ben may act now.
    assert state.call is not None and (state.call.agent, state.call.status) == ("anna", "talking")
    assert refused(state, c.HoldCall(ANNA, "k1")) == "forbidden"
    assert refused(state, c.HoldCall(BEN, "k1")) == "invalid_state"
    state, new = run(state, c.AnswerCall(BEN, "k1"))
    assert state.call is not None and (state.call.agent, state.call.status) == ("ben", "talking")


def test_a_transfer_to_a_queue_or_a_hand_back_leaves_the_call_waiting() -> None:
    state, new = run(talking(), c.Transfer(ANNA, to_queue="cards"))
    assert types(new) == ["handler.changed", "call.transferred"]
    assert new[1].data["to"] == "queue"
    assert state.call == ActiveCall("k1", "audio", "waiting", None)

    state, new = run(talking(), c.HandBack(ANNA))
    assert types(new) == ["handler.changed", "call.transferred"]
    assert new[1].data == {"call_id": "k1", "from": ANNA, "to": "bot"}
    assert state.call is not None and state.call.status == "waiting"


def test_a_transfer_without_a_call_logs_no_call_event() -> None:
    _, new = run(served_by(), c.Transfer(ANNA, to_agent="ben"))
    assert types(new) == ["handler.changed"]
    assert "call" not in new[0].data.get("context", {})


def test_a_call_started_while_the_bot_serves_is_escalated_with_the_call_in_the_context() -> None:
    state = calling(started(), "video")
    state, new = run(state, c.Escalate(ALICE, "customer_request", context={"note": "calling"}))
    assert new[0].data["context"]["call"] == {"call_id": "k1", "media": "video"}
    assert types(new) == ["handler.changed"]  # no agent had the call: nothing followed it
    state, _ = run(state, c.AssignAgent("anna"))
    assert types(run(state, c.AnswerCall(ANNA, "k1"))[1]) == ["call.answered"]


def test_upgrade_to_video_once_by_a_party() -> None:
    state = talking()
    assert refused(state, c.UpgradeCall(BEN, "k1")) == "forbidden"
    assert refused(state, c.UpgradeCall(ALICE, "k1", "audio")) == "invalid_payload"
    state, new = run(state, c.UpgradeCall(ALICE, "k1"))
    assert types(new) == ["call.upgraded"] and new[0].data == {"call_id": "k1", "media": "video"}
    assert state.call is not None and state.call.media == "video"
    assert run(state, c.UpgradeCall(ANNA, "k1"))[1] == []


def test_ending_a_call_logs_its_durations_and_closes_the_call_channel() -> None:
    state, new = run(talking(), c.EndCall("system", "k1", "customer_hangup", 12.5, 10.0, 1.5))
    assert types(new) == ["call.ended", "channel.closed"]
    assert new[0].data == {
        "call_id": "k1",
        "reason": "customer_hangup",
        "duration_seconds": 12.5,
        "talk_seconds": 10.0,
        "held_seconds": 1.5,
    }
    assert state.call is None and "call" not in state.channels
    # A new call may start now.
    assert types(run(state, c.StartCall(ALICE, "k2"))[1]) == ["channel.opened", "call.started"]
    assert refused(state, c.EndCall("system", "k1", "again")) == "not_found"


def test_who_may_end_a_call() -> None:
    state = talking()
    assert refused(state, c.EndCall("customer:mallory", "k1", "x")) == "not_found"
    assert refused(state, c.EndCall(BEN, "k1", "x")) == "forbidden"
    assert refused(state, c.EndCall("bot", "k1", "x")) == "forbidden"
    assert refused(state, c.EndCall(ALICE, "k1", "x", -1.0)) == "invalid_payload"
    assert refused(state, c.EndCall(ALICE, "k1", "x", float("nan"))) == "invalid_payload"
    assert refused(state, c.EndCall(ALICE, "k1", "")) == "invalid_payload"
    for actor in (ALICE, ANNA, "system", "supervisor:sam"):
        assert types(run(state, c.EndCall(actor, "k1", "hangup"))[1])[0] == "call.ended"
    # Anna, transferred away but still on the call until Ben answers, may leave it.
    moved, _ = run(state, c.Transfer(ANNA, to_agent="ben"))
    assert types(run(moved, c.EndCall(ANNA, "k1", "hangup"))[1])[0] == "call.ended"


def test_a_call_up_when_the_conversation_closes_is_ended_after_the_close() -> None:
    state, _ = run(talking(), c.StartRecording(ANNA, "k1", consent=True))
    state, new = run(state, c.CloseConversation(ANNA))
    assert types(new) == ["handler.changed", "conversation.closed"]
    assert state.call is not None  # until its end is logged
    state, new = run(state, c.SaveRecording("system", "k1", "k1.mka", 3.0, 1000, "a" * 64))
    assert types(new) == ["recording.saved"]
    state, new = run(state, c.EndCall("system", "k1", "conversation_closed", 5.0, 3.0, 0.0))
    assert types(new) == ["call.ended"]  # the channels closed with the conversation
    assert state.call is None
    assert refused(state, c.StartCall(ALICE, "k2")) == "conversation_closed"


def test_recording_needs_consent_and_the_agent_on_the_call() -> None:
    assert refused(calling(), c.StartRecording(ANNA, "k1", consent=True)) == "invalid_state"
    state = talking()
    assert refused(state, c.StartRecording(ANNA, "k1", consent=False)) == "invalid_payload"
    assert refused(state, c.StartRecording(ALICE, "k1", consent=True)) == "forbidden"
    assert refused(state, c.StartRecording(BEN, "k1", consent=True)) == "forbidden"
    state, new = run(state, c.StartRecording(ANNA, "k1", consent=True))
    assert types(new) == ["recording.started"]
    assert new[0].data == {"call_id": "k1", "consent": True}
    assert state.call is not None and state.call.recording
    assert refused(state, c.StartRecording(ANNA, "k1", consent=True)) == "invalid_state"


def test_a_recording_is_saved_by_the_system_with_a_checkable_digest() -> None:
    state, _ = run(talking(), c.StartRecording(ANNA, "k1", consent=True))
    good = c.SaveRecording("system", "k1", "k1-2026.mka", 4.25, 51234, "0f" * 32)
    assert refused(state, c.SaveRecording(ANNA, "k1", "p", 1.0, 1, "0" * 64)) == "forbidden"
    assert refused(state, c.SaveRecording("system", "k1", "p", 1.0, 1, "XYZ")) == (
        "invalid_payload"
    )
    assert refused(state, c.SaveRecording("system", "k1", "", 1.0, 1, "0" * 64)) == (
        "invalid_payload"
    )
    state, new = run(state, good)
    assert new[0].data == {
        "call_id": "k1",
        "path": "k1-2026.mka",
        "duration_seconds": 4.25,
        "size_bytes": 51234,
        "sha256": "0f" * 32,
    }
    assert state.call is not None and not state.call.recording
    assert refused(state, good) == "invalid_state"


def test_the_call_state_is_a_fold_over_the_log() -> None:
    state = talking()
    state, _ = run(state, c.HoldCall(ANNA, "k1"))
    events: list[Event] = []
    replay = ConversationState(id="c1")
    for command in (
        c.StartConversation("alice"),
        c.Escalate(ALICE, "customer_request"),
        c.AssignAgent("anna"),
        c.StartCall(ALICE, "k1"),
        c.AnswerCall(ANNA, "k1"),
        c.HoldCall(ANNA, "k1"),
    ):
        for new in decide(replay, command, NOW):
            event = Event.stored("c1", replay.last_seq + 1, new)
            events.append(event)
            replay = apply(replay, event)
    assert fold("c1", events) == state
    # An event about another call (a stale one) changes nothing.
    stray = Event("c1", state.last_seq + 1, "call.resumed", NOW, ANNA, {"call_id": "old"})
    assert apply(state, stray).call == state.call


def segment(
    speaker: str = "customer", text: str = "my card number is 4111 1111 1111 1111"
) -> c.AddTranscriptSegment:
    return c.AddTranscriptSegment("system", "k1", speaker, text, 1.25, 3.5, 0)


def test_a_final_transcript_segment_is_logged_with_card_and_id_numbers_masked() -> None:
    state, new = run(talking(), segment())
    assert types(new) == ["transcript.segment"]
    assert new[0].data == {
        "call_id": "k1",
        "speaker": "customer",
        "text": "my card number is [card ending 1111]",
        "start": 1.25,
        "end": 3.5,
        "utterance": 0,
    }
    _, new = run(state, segment(ANNA, "and your ID is 880512 345 678?"))
    assert new[0].data["text"] == "and your ID is [number]?"
    assert new[0].data["speaker"] == ANNA


def test_transcripts_are_the_systems_and_name_a_known_party() -> None:
    state = talking()
    assert refused(state, c.AddTranscriptSegment(ANNA, "k1", "customer", "hi", 0, 1, 0)) == (
        "forbidden"
    )
    assert refused(state, segment("somebody")) == "invalid_payload"
    assert refused(state, segment(text="   ")) == "invalid_payload"
    assert refused(state, segment(text="x" * 2001)) == "invalid_payload"
    assert refused(state, c.AddTranscriptSegment("system", "k1", "customer", "hi", 2, 1, 0)) == (
        "invalid_payload"
    )
    _, new = run(state, segment("digital_human", "How can I help?"))
    assert new[0].data["speaker"] == "digital_human"


def test_the_last_words_are_logged_even_after_the_call_and_conversation_ended() -> None:
    state, _ = run(talking(), c.EndCall(ANNA, "k1", "hangup"))
    state, _ = run(state, c.CloseConversation(ANNA))
    assert state.status == "closed"
    _, new = run(state, segment(text="thanks, bye"))
    assert types(new) == ["transcript.segment"]


def test_the_digital_human_takes_a_call_from_the_bot_in_one_switch_and_hands_it_back() -> None:
    state = calling(started())
    assert state.handler == "bot"
    state, new = run(state, c.HandOver("system", "digital_human", "call"))
    assert types(new) == ["handler.changed"]
    assert new[0].data == {"from": "bot", "to": "digital_human", "reason": "call"}
    assert state.handler == "digital_human"
    assert run(state, c.HandOver("system", "digital_human", "call"))[1] == []
    # Its escalation carries the call; the text bot's words are stale meanwhile.
    assert refused(state, c.SendMessage("bot", "hello")) == "invalid_state"
    assert refused(state, c.Escalate("bot", "customer_request")) == "invalid_state"
    queued, new = run(state, c.Escalate("digital_human", "customer_request", "payments"))
    assert new[0].data["from"] == "digital_human"
    assert new[0].data["context"]["call"] == {"call_id": "k1", "media": "audio"}
    state, new = run(state, c.HandOver("system", "bot", "call_ended"))
    assert new[0].data == {"from": "digital_human", "to": "bot", "reason": "call_ended"}
    assert refused(queued, c.HandOver("system", "digital_human", "call")) == "invalid_state"


def test_only_the_system_hands_between_automatic_handlers() -> None:
    state = calling(started())
    assert refused(state, c.HandOver(ALICE, "digital_human", "call")) == "forbidden"
    assert refused(state, c.HandOver("digital_human", "digital_human", "call")) == "forbidden"
    assert refused(state, c.HandOver("system", "agent:anna", "call")) == "invalid_payload"


def test_an_agent_hands_a_call_back_to_the_digital_human() -> None:
    state, new = run(talking(), c.HandBack(ANNA, "digital_human"))
    assert types(new) == ["handler.changed", "call.transferred"]
    assert new[0].data["to"] == "digital_human"
    assert state.handler == "digital_human"
    assert state.call is not None and state.call.agent is None


def test_a_chat_without_a_call_is_not_handed_to_the_digital_human() -> None:
    assert refused(served_by(), c.HandBack(ANNA, "digital_human")) == "invalid_state"


def test_a_supervisor_hands_what_an_automatic_handler_serves_to_a_person() -> None:
    state, _ = run(calling(started()), c.HandOver("system", "digital_human", "call"))
    state, new = run(state, c.Escalate("supervisor:sara", "supervisor", "payments"))
    assert new[0].actor == "supervisor:sara" and state.handler == "queue"
    assert refused(started(), c.Escalate("agent:anna", "supervisor")) == "forbidden"
