"""A call's bookkeeping without a network: offers, state, routes, the collection of calls."""

from __future__ import annotations

import pytest

from media.assets import CallAssets
from media.audio_loop import EncodedAudioLoop
from media.call import Call, CallEnded, CallError, CallSummary
from media.calls import Calls
from media.frames import EncodedFrame
from media.hub import TrackHub
from media.leg import NegotiationError, Route, offered_kinds
from media.slate import EncodedSlate
from media.switchable import SwitchableAudioTrack
from media.testing import LOOPBACK


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def assets() -> CallAssets:
    return CallAssets.build(
        hold=EncodedAudioLoop.tone(330.0, 0.2), slate=EncodedSlate.render(64, 48, fps=5.0)
    )


def offer(*sections: str) -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0"]
    for kind in sections:
        lines += [f"m={kind} 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0"]
    return "\r\n".join(lines) + "\r\n"


def test_offered_kinds_accepts_one_audio_and_one_video_section() -> None:
    assert offered_kinds(offer("audio")) == ["audio"]
    assert offered_kinds(offer("video", "audio", "application")) == ["video", "audio"]


@pytest.mark.parametrize(
    ("sections", "problem"),
    [
        (("video",), "no audio"),
        (("audio", "audio"), "more than one audio"),
        (("audio", "video", "video"), "more than one video"),
    ],
)
def test_offered_kinds_refuses_what_a_leg_cannot_forward(
    sections: tuple[str, ...], problem: str
) -> None:
    with pytest.raises(NegotiationError, match=problem):
        offered_kinds(offer(*sections))


async def test_a_route_subscribes_one_forwarder_and_lets_go_of_the_last() -> None:
    first, second = TrackHub("audio"), TrackHub("audio")
    hold = EncodedAudioLoop.tone(330.0, 0.2)
    route = Route(SwitchableAudioTrack())
    route.set(first)
    route.set(first)
    assert (first.listeners, route.switches) == (1, 1)
    route.set(second)
    assert (first.listeners, second.listeners) == (0, 1)
    route.set(hold)
    assert second.listeners == 0
    assert route.track.source is hold
    route.set(second)
    second.close()
    # A closed hub is no source: the route falls back to nothing (silence).
    route.set(second)
    route.set(first)
    first.push(EncodedFrame("opus", b"\xfc", 960))
    assert route.track.source is not None
    route.clear()
    assert first.listeners == 0
    assert route.track.source is None


async def test_a_call_without_legs_ends_once_with_a_summary(assets: CallAssets) -> None:
    clock = Clock()
    ended: list[CallSummary] = []
    call = Call("c-1", "conv-1", ice=LOOPBACK, assets=assets, on_ended=ended.append, clock=clock)
    assert call.state == "new"
    clock.now += 2.5
    summary = await call.end("abandoned")
    assert summary == await call.end("again")
    assert ended == [summary]
    assert summary.reason == "abandoned"
    assert summary.duration_seconds == 2.5
    assert (summary.talk_seconds, summary.held_seconds, summary.queued_seconds) == (0, 0, 0)
    assert call.state == "ended"
    assert call.ended
    with pytest.raises(CallEnded):
        await call.connect_customer(offer("audio"))
    with pytest.raises(CallEnded):
        call.hold()
    assert call.stats()["legs"] == {}


async def test_signaling_out_of_order_is_refused(assets: CallAssets) -> None:
    call = Call("c-2", "conv-2", ice=LOOPBACK, assets=assets)
    with pytest.raises(CallError, match="customer first"):
        await call.connect_agent("a-1", offer("audio"))
    with pytest.raises(CallError, match="no customer"):
        await call.renegotiate("customer", offer("audio"))
    with pytest.raises(NegotiationError):
        await call.connect_customer(offer("video"))
    # Parsed, but nothing aiortc can answer (no transport, no codec): the same error.
    with pytest.raises(NegotiationError, match="cannot answer"):
        await call.connect_customer(offer("audio"))
    # The refused offer left no leg behind.
    assert call.stats()["legs"] == {}
    with pytest.raises(CallError, match="no such party"):
        call.mute("supervisor", True)  # type: ignore[arg-type]
    await call.drop_agent()
    await call.end()


async def test_calls_are_created_found_and_ended_by_id(assets: CallAssets) -> None:
    ended: list[str] = []
    calls = Calls(ice=LOOPBACK, assets=assets, on_ended=lambda s: ended.append(s.call_id))
    first = calls.create("a", "conv-a")
    calls.create("b", "conv-b", media="video")
    with pytest.raises(CallError, match="already exists"):
        calls.create("a", "conv-a")
    assert calls.get("a") is first
    assert calls["b"].media == "video"
    assert len(calls) == 2 and "a" in calls
    assert (await first.end()).call_id == "a"
    assert "a" not in calls
    assert await calls.end("missing") is None
    summaries = await calls.close()
    assert [s.call_id for s in summaries] == ["b"]
    assert ended == ["a", "b"]
    assert len(calls) == 0
    with pytest.raises(CallEnded):
        calls.create("c", "conv-c")


async def test_a_change_of_mute_is_an_event_and_a_repeat_is_not(assets: CallAssets) -> None:
    events: list[tuple[str, str | None, str | None]] = []
    call = Call(
        "c-3",
        "conv-3",
        ice=LOOPBACK,
        assets=assets,
        on_event=lambda e: events.append((e.type, e.party, e.reason)),
    )
    call.mute("customer", True)
    call.mute("customer", True)
    call.mute("agent", False)
    call.mute("customer", False)
    assert events == [("muted", "customer", "muted"), ("muted", "customer", "unmuted")]
    call.set_queue_position(4)
    assert call.queue_position == 4
    await call.end()
    call.set_queue_position(2)
    assert call.queue_position == 4, "an ended call's slate is not repainted"
