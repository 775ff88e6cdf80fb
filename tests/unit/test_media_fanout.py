"""Fan-out of encoded frames: bounded buffers, forwarders, continuous timelines, decoding taps."""

from __future__ import annotations

import asyncio

import pytest
from aiortc.mediastreams import MediaStreamError

from media.audio_loop import EncodedAudioLoop
from media.bounded import BufferClosed, DropOldestBuffer
from media.frames import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedFrame, vp8_is_keyframe
from media.hub import TrackHub
from media.timeline import ContinuousTimeline


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def opus(timestamp: int, data: bytes = b"\xfc\x00") -> EncodedFrame:
    return EncodedFrame("opus", data, timestamp)


def vp8(timestamp: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame("vp8", b"\x10" if keyframe else b"\x11", timestamp, keyframe=keyframe)


# --------------------------------------------------------------------------- buffer


async def test_buffer_drops_the_oldest_and_counts_it() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(3)
    for i in range(10):
        buffer.put(i)
    assert len(buffer) == 3
    assert buffer.dropped == 7
    assert buffer.received == 10
    assert [await buffer.get() for _ in range(3)] == [7, 8, 9]


async def test_buffer_never_grows_past_maxlen() -> None:
    buffer: DropOldestBuffer[bytes] = DropOldestBuffer(5)
    for _ in range(10_000):
        buffer.put(b"x" * 100)
        assert len(buffer) <= 5
    assert buffer.dropped == 10_000 - 5


async def test_buffer_get_is_safe_to_cancel() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(3)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await buffer.get()
    buffer.put(1)
    assert await buffer.get() == 1


async def test_buffer_wakes_a_waiting_consumer_and_ends_after_close() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(3)
    waiting = asyncio.ensure_future(buffer.get())
    await asyncio.sleep(0)
    buffer.put(5)
    assert await waiting == 5
    buffer.put(6)
    buffer.close()
    buffer.put(7)
    assert await buffer.get() == 6
    with pytest.raises(BufferClosed):
        await buffer.get()


async def test_buffer_trim_keeps_the_newest() -> None:
    buffer: DropOldestBuffer[int] = DropOldestBuffer(10)
    for i in range(6):
        buffer.put(i)
    assert buffer.trim(keep=2) == 4
    assert buffer.dropped == 4
    assert [await buffer.get(), await buffer.get()] == [4, 5]


def test_buffer_needs_room() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DropOldestBuffer(0)


# --------------------------------------------------------------------------- timeline


def test_timeline_follows_the_source_within_a_run() -> None:
    clock = FakeClock()
    timeline = ContinuousTimeline(48_000, 960, clock=clock)
    outputs = []
    for i in range(5):
        outputs.append(timeline.map(123_456 + i * 960))
        clock.now += 0.02
    assert outputs == [0, 960, 1920, 2880, 3840]


def test_timeline_keeps_a_real_pause_as_a_gap() -> None:
    clock = FakeClock()
    timeline = ContinuousTimeline(48_000, 960, clock=clock)
    timeline.map(0)
    clock.now += 0.2
    # Ten frames of DTX: the source's own gap matches the wall clock.
    assert timeline.map(9_600) == 9_600


@pytest.mark.parametrize("jump", [-50_000, 0, 1 << 31])
def test_timeline_reanchors_on_a_source_jump(jump: int) -> None:
    clock = FakeClock()
    timeline = ContinuousTimeline(48_000, 960, clock=clock)
    timeline.map(10_000)
    clock.now += 0.02
    assert timeline.map(10_000 + jump) == 960
    clock.now += 0.021
    assert timeline.map(10_000 + jump + 960) == 1920


def test_timeline_reanchor_on_request_uses_the_wall_clock() -> None:
    clock = FakeClock()
    timeline = ContinuousTimeline(48_000, 960, clock=clock)
    timeline.map(0)
    timeline.reanchor()
    clock.now += 0.1
    assert timeline.map(960) == 5 * 960
    # Never less than one step, even when no time passed.
    timeline.reanchor()
    assert timeline.map(0) == 6 * 960


# --------------------------------------------------------------------------- hub & forwarder


async def test_forwarder_output_is_continuous_across_source_jumps() -> None:
    clock = FakeClock()
    hub = TrackHub("audio", clock=clock)
    leg = hub.forward()
    source_timestamps = [0, 960, 1920, 900_000, 900_960, 5, 965]
    pts = []
    for timestamp in source_timestamps:
        hub.push(opus(timestamp))
        packet = await leg.recv()
        assert packet.time_base == AUDIO_TIME_BASE
        pts.append(packet.pts)
        clock.now += 0.02
    assert pts == [i * 960 for i in range(len(source_timestamps))]


async def test_hub_fans_out_to_independent_bounded_legs() -> None:
    hub = TrackHub("audio")
    fast, slow = hub.forward(maxlen=4), hub.forward(maxlen=4)
    for i in range(10):
        hub.push(opus(i * 960, bytes([i])))
        assert bytes(await fast.recv()) == bytes([i])
    assert slow.pending == 4
    assert slow.dropped == 6
    assert fast.dropped == 0
    assert bytes(await slow.recv()) == bytes([6])


async def test_a_stopped_leg_unsubscribes_and_an_ended_hub_ends_its_legs() -> None:
    hub = TrackHub("audio")
    leg, other = hub.forward(), hub.forward()
    leg.stop()
    assert hub.listeners == 1
    with pytest.raises(MediaStreamError):
        await leg.recv()
    hub.push(opus(0))
    hub.close()
    assert bytes(await other.recv()) == b"\xfc\x00"
    with pytest.raises(MediaStreamError):
        await other.recv()
    assert other.readyState == "ended"
    late = hub.forward()
    with pytest.raises(MediaStreamError):
        await late.recv()


async def test_video_forwarder_starts_at_a_keyframe_and_asks_for_one() -> None:
    requests: list[int] = []
    hub = TrackHub("video", request_keyframe=lambda: requests.append(1))
    leg = hub.forward(maxlen=3)
    assert requests == [1]
    for i, key in enumerate([False, False, True, False]):
        hub.push(vp8(i * 3000, key))
    frames = [await leg.next_frame(), await leg.next_frame()]
    assert [f.keyframe for f in frames] == [True, False]
    # An overflow loses references: wait for the next keyframe, and ask for it.
    for i in range(5):
        hub.push(vp8(20_000 + i * 3000, False))
    hub.push(vp8(40_000, True))
    assert (await leg.next_frame()).timestamp == 40_000
    assert len(requests) == 2
    hub.push(vp8(43_000, False))
    packet = await leg.recv()
    assert packet.time_base == VIDEO_TIME_BASE
    assert bytes(packet) == b"\x11"


def test_vp8_keyframe_bit() -> None:
    assert vp8_is_keyframe(b"\x10\x02\x00")
    assert not vp8_is_keyframe(b"\x11\x02\x00")
    assert not vp8_is_keyframe(b"")


# --------------------------------------------------------------------------- decoding


async def test_nothing_decodes_without_a_tap_and_a_tap_decodes_only_while_subscribed() -> None:
    hub = TrackHub("audio")
    loop = EncodedAudioLoop.tone(440.0, 0.2)
    for _ in range(5):
        hub.push(loop.next_frame_nowait())
    assert hub.listeners == 0
    tap = hub.decode()
    assert hub.listeners == 1
    for _ in range(3):
        hub.push(loop.next_frame_nowait())
    frames = [await tap.recv() for _ in range(3)]
    assert [(f.sample_rate, f.samples, f.format.name, f.layout.name) for f in frames] == [
        (48_000, 960, "s16", "stereo")
    ] * 3
    tap.stop()
    assert hub.listeners == 0
    hub.push(loop.next_frame_nowait())
    with pytest.raises(MediaStreamError):
        await tap.recv()
