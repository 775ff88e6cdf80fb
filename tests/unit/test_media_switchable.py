"""Switchable outbound tracks: one continuous timeline whatever the source does."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator

import pytest
from aiortc.mediastreams import MediaStreamError

from media.audio_loop import EncodedAudioLoop
from media.frames import AUDIO_TIME_BASE, VIDEO_TIME_BASE, EncodedFrame
from media.hub import TrackHub
from media.slate import EncodedSlate
from media.switchable import SwitchableAudioTrack, SwitchableVideoTrack

# The brief is "no gap above ~40 ms"; a shared CI machine adds its own scheduling jitter.
MAX_GAP = 0.060


class Tagged:
    """A pre-encoded-style source whose every frame says where it came from."""

    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.timestamp = 0

    async def next_frame(self) -> EncodedFrame:
        self.timestamp += 960
        return EncodedFrame("opus", self.tag, self.timestamp)


@contextlib.asynccontextmanager
async def live_source(hub: TrackHub, tag: bytes, period: float = 0.02) -> AsyncIterator[None]:
    """Feeds `hub` like a remote microphone: one frame every `period` seconds."""

    async def produce() -> None:
        timestamp = 0
        start = time.monotonic()
        while True:
            timestamp += 960
            hub.push(EncodedFrame("opus", tag, timestamp))
            await asyncio.sleep(max(0.0, start + timestamp / 48_000 - time.monotonic()))

    task = asyncio.ensure_future(produce())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def collect(track: SwitchableAudioTrack, count: int) -> list[tuple[float, int, bytes]]:
    out = []
    for _ in range(count):
        packet = await track.recv()
        assert packet.time_base == AUDIO_TIME_BASE
        assert packet.pts is not None
        out.append((time.monotonic(), packet.pts, bytes(packet)))
    return out


def assert_continuous(packets: list[tuple[float, int, bytes]]) -> None:
    pts = [p for _, p, _ in packets]
    assert [b - a for a, b in itertools.pairwise(pts)] == [960] * (len(pts) - 1)
    gaps = [b - a for (a, _, _), (b, _, _) in itertools.pairwise(packets)]
    assert max(gaps) < MAX_GAP, f"largest gap {max(gaps) * 1000:.0f} ms"


async def test_a_pre_encoded_source_is_paced_at_50_packets_per_second() -> None:
    track = SwitchableAudioTrack(EncodedAudioLoop.tone(440.0, 0.2))
    start = time.monotonic()
    packets = await collect(track, 25)
    elapsed = time.monotonic() - start
    assert_continuous(packets)
    assert 0.42 < elapsed < 0.65
    assert track.filled == 0


async def test_switching_sources_keeps_one_timeline_with_at_most_one_transition_frame() -> None:
    silence = EncodedAudioLoop.silence()
    filler_packets = {silence.next_frame_nowait().data for _ in range(len(silence))}
    hub = TrackHub("audio")
    track = SwitchableAudioTrack(Tagged(b"A"), filler=EncodedAudioLoop.silence())
    async with live_source(hub, b"F"):
        forwarder = hub.forward()
        packets = await collect(track, 10)
        track.switch(forwarder)
        packets += await collect(track, 15)
        track.switch(Tagged(b"B"))
        packets += await collect(track, 10)
        track.switch(None)
        packets += await collect(track, 5)
    assert_continuous(packets)
    labels = ["fill" if p in filler_packets else p.decode() for _, _, p in packets]
    segments = [labels[0:10], labels[10:25], labels[25:35], labels[35:40]]
    assert segments[0] == ["A"] * 10
    for segment, expected in zip(segments[1:3], ["F", "B"], strict=True):
        # The first packet after a switch may still be the old source's or a filler.
        assert segment[1:] == [expected] * (len(segment) - 1), segment
    assert segments[3][1:] == ["fill"] * 4


async def test_a_paused_source_is_covered_with_filler_and_resumes_live() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward()
    track = SwitchableAudioTrack(forwarder)
    async with live_source(hub, b"F"):
        packets = await collect(track, 10)
    # The source pauses for 200 ms: the track sends filler, it does not stop.
    packets += await collect(track, 10)
    async with live_source(hub, b"G"):
        packets += await collect(track, 15)
    assert_continuous(packets)
    tags = [p for _, _, p in packets]
    assert tags[:10].count(b"F") >= 9
    assert b"F" not in tags[12:20] and b"G" not in tags[:20]
    assert tags[-10:] == [b"G"] * 10
    assert track.filled >= 8


async def test_a_source_that_ends_is_replaced_by_filler() -> None:
    hub = TrackHub("audio")
    track = SwitchableAudioTrack(hub.forward())
    async with live_source(hub, b"F"):
        await collect(track, 5)
    hub.close()
    packets = await collect(track, 5)
    assert track.source is None
    assert all(p != b"F" for _, _, p in packets[1:])


async def test_a_forwarder_switched_to_is_live_not_replaying_its_backlog() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward(maxlen=10)
    for i in range(10):
        hub.push(EncodedFrame("opus", bytes([i]), i * 960))
    track = SwitchableAudioTrack(forwarder)
    assert forwarder.pending == 1
    assert bytes(await track.recv()) == bytes([9])


# --------------------------------------------------------------------------- video


def vp8(tag: int, timestamp: int, keyframe: bool) -> EncodedFrame:
    return EncodedFrame("vp8", bytes([0x10 if keyframe else 0x11, tag]), timestamp, keyframe)


async def test_video_switches_on_the_new_sources_keyframe_and_falls_back_to_the_slate() -> None:
    slate = EncodedSlate.render(64, 48, fps=50.0)
    requests: list[str] = []
    hub = TrackHub("video", request_keyframe=lambda: requests.append("pli"))
    track = SwitchableVideoTrack(idle=slate)
    pts = []

    async def next_tag() -> int:
        async with asyncio.timeout(2):
            packet = await track.recv()
        assert packet.time_base == VIDEO_TIME_BASE
        assert packet.pts is not None
        pts.append(packet.pts)
        data = bytes(packet)
        return -1 if data == slate.keyframe else data[1]

    assert await next_tag() == -1
    track.switch(hub.forward())
    assert requests, "a switch to a forwarder asks its sender for a keyframe"
    hub.push(vp8(1, 3000, keyframe=False))
    # Not decodable on its own: the slate goes on until the keyframe comes.
    assert await next_tag() == -1
    hub.push(vp8(2, 6000, keyframe=True))
    hub.push(vp8(3, 9000, keyframe=False))
    tag = await next_tag()
    while tag == -1:
        # Slate frames that were already due may still come first.
        tag = await next_tag()
    assert [tag, await next_tag()] == [2, 3]
    requests.clear()
    track.request_keyframe()
    assert requests == ["pli"]
    hub.close()
    assert await next_tag() == -1
    assert all(b > a for a, b in itertools.pairwise(pts))
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


async def backlogged(
    track: SwitchableAudioTrack, hub: TrackHub, size: int, late: int = 3
) -> list[int]:
    """After the first frame, `late` arrive at once, then one a slot: `late` - 1 wait
    behind each one sent (delay nothing would take back), for 3 seconds; frames of
    `size` bytes, numbered. What the track sent."""
    hub.push(EncodedFrame("opus", bytes([0]) * size, 0))
    sent = [bytes(await track.recv())[0]]
    for i in range(1, late + 1):
        hub.push(EncodedFrame("opus", bytes([i]) * size, i * 960))
    for i in range(late + 1, 3 * 50 + 5):
        sent.append(bytes(await track.recv())[0])
        hub.push(EncodedFrame("opus", bytes([i % 256]) * size, i * 960))
    assert track.filled == 0
    return sent


async def test_a_backlog_that_stays_is_shed_one_quiet_frame_a_second() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward(maxlen=10)
    track = SwitchableAudioTrack(forwarder)
    sent = await backlogged(track, hub, size=3)
    # The first second had no backlog yet; then one frame a second goes, until none waits.
    assert track.shed == 2
    assert forwarder.pending == 1, "only the frame just pushed"
    # A frame was skipped each time; the order never changed.
    assert sent == sorted(sent)
    pushed = 3 * 50 + 5
    assert len(sent) + track.shed + forwarder.pending == pushed


async def test_sound_is_not_skipped_to_shed_a_small_backlog() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward(maxlen=10)
    track = SwitchableAudioTrack(forwarder)
    sent = await backlogged(track, hub, size=80)
    assert track.shed == 0
    assert sent == list(range(0, len(sent)))
    assert forwarder.pending == 3


async def test_a_large_backlog_of_sound_is_shed_too() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward(maxlen=10)
    track = SwitchableAudioTrack(forwarder)
    sent = await backlogged(track, hub, size=80, late=5)
    # Four waiting (80 ms): one goes after the first second with it, then another; at two
    # waiting the rest is kept (only silence would be skipped).
    assert track.shed == 2
    assert forwarder.pending == 3
    assert sent == sorted(sent)


async def test_what_piled_up_before_the_track_started_is_not_played_late() -> None:
    hub = TrackHub("audio")
    forwarder = hub.forward(maxlen=10)
    track = SwitchableAudioTrack(forwarder)
    # The sender only starts reading once its connection is up; the forwarder filled up.
    for i in range(10):
        hub.push(EncodedFrame("opus", bytes([i]) * 80, i * 960))
    assert bytes(await track.recv())[0] == 9
    assert forwarder.pending == 0
    assert track.shed == 9
    assert forwarder.dropped == 0, "never due to be played: not a loss"


async def test_a_backlog_that_comes_and_goes_is_kept() -> None:
    hub = TrackHub("audio")
    track = SwitchableAudioTrack(hub.forward(maxlen=10))
    for i in range(120):
        # Every other slot the frame is late: the track waits for it, nothing piles up.
        if i % 2 == 0:
            hub.push(EncodedFrame("opus", bytes([i % 256]), i * 960))
        await track.recv()
        if i % 2 == 1:
            hub.push(EncodedFrame("opus", bytes([i % 256]), i * 960))
    assert track.shed == 0


class Polled:
    """A source with a frame always ready (like the digital human's voice), counting how
    it was read, that can end."""

    def __init__(self) -> None:
        self.polls = 0
        self.waits = 0
        self.ended = False
        self.keyframes = 0

    def next_frame_nowait(self) -> EncodedFrame:
        if self.ended:
            raise MediaStreamError
        self.polls += 1
        return EncodedFrame("opus", b"P", 0)

    async def next_frame(self) -> EncodedFrame:
        self.waits += 1
        return self.next_frame_nowait()

    def request_keyframe(self) -> None:
        self.keyframes += 1


async def test_any_source_that_can_be_polled_is_taken_without_a_timed_wait() -> None:
    source = Polled()
    track = SwitchableAudioTrack(source)
    packets = await collect(track, 5)
    assert [p for _, _, p in packets] == [b"P"] * 5
    assert source.polls == 5 and source.waits == 0
    source.ended = True
    packets = await collect(track, 3)
    assert all(p != b"P" for _, _, p in packets), "an ended source gives way to the filler"
    assert track.source is None


async def test_a_video_switch_asks_any_keyframe_source_for_one() -> None:
    source = Polled()
    track = SwitchableVideoTrack(idle=EncodedSlate.render(64, 48, fps=50.0))
    track.switch(source)  # audio frames do for counting requests
    assert source.keyframes == 1
    track.stop()
