"""Recording parts without a network: the shared timeline, the muxer thread, file naming."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import av
import pytest

from media.assets import CallAssets
from media.audio_loop import EncodedAudioLoop
from media.call import Call, CallEnded
from media.muxer import Muxer, StreamSpec, _Item, _PacketQueue
from media.recording import Recorder
from media.slate import EncodedSlate
from media.testing import LOOPBACK
from media.timeline import AnchoredTimeline


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------- timeline


def test_a_run_is_placed_at_its_arrival_and_keeps_its_own_spacing() -> None:
    clock = Clock()
    timeline = AnchoredTimeline(48_000, 960, origin=clock.now, clock=clock)
    clock.now += 1.0
    assert timeline.map(123_456) == 48_000
    # Jitter in arrival does not reach the output; the source's 20 ms steps do.
    clock.now += 0.035
    assert timeline.map(123_456 + 960) == 48_960
    clock.now += 0.005
    assert timeline.map(123_456 + 1920) == 49_920
    assert timeline.anchors == 1


def test_a_jump_or_a_new_source_re_anchors_on_the_wall_clock_never_backwards() -> None:
    clock = Clock()
    timeline = AnchoredTimeline(48_000, 960, origin=clock.now, clock=clock)
    assert timeline.map(0) == 0
    clock.now += 2.0
    # The source jumped ten seconds ahead: placed at the wall clock instead.
    assert timeline.map(480_000) == 96_000
    clock.now += 0.02
    timeline.reanchor()
    # Another source whose first frame would land before the last output: pushed on.
    clock.now -= 0.5
    assert timeline.map(5) == 96_960
    assert timeline.anchors == 3


# ------------------------------------------------------------------------ muxer


def test_the_packet_queue_is_bounded_and_drops_the_oldest() -> None:
    queue = _PacketQueue(3)
    for i in range(5):
        queue.put(_Item(0, bytes([i]), i, True))
    queue.close()
    assert queue.dropped == 2
    items = []
    while (item := queue.get()) is not None:
        items.append(item.data)
    assert items == [b"\x02", b"\x03", b"\x04"]


async def test_the_muxer_copies_opus_and_vp8_packets_into_webm(tmp_path: Path) -> None:
    tone = EncodedAudioLoop.tone(440.0, 1.0)
    slate = EncodedSlate.render(96, 64)
    path = tmp_path / "out.webm"
    muxer = Muxer(
        path,
        [StreamSpec("audio", "customer audio"), StreamSpec("video", "customer video")],
        format="webm",
        metadata={"CALL_ID": "x"},
    )
    muxer.start()
    for i in range(50):
        muxer.submit(0, tone.next_frame_nowait().data, 4_800 + i * 960)
        if i % 5 == 0:
            muxer.submit(1, slate.keyframe, 9_000 + i * 1_800)
    # A pts going back is refused by the muxer: counted, and the file goes on.
    muxer.submit(0, tone.next_frame_nowait().data, 0)
    muxer.close()
    result = await muxer.finished()

    assert result.packets == 60
    assert result.errors == 1
    assert result.duration_seconds == pytest.approx(0.1 + 50 * 0.02, abs=0.001)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (96, 64)
        assert container.streams.audio[0].metadata["title"] == "customer audio"
        frames = list(container.decode(audio=0))
    assert sum(f.samples for f in frames) == pytest.approx(50 * 960, abs=960)
    assert frames[0].time == pytest.approx(0.1, abs=0.01)


async def test_a_video_stream_that_never_sends_gets_a_default_size(tmp_path: Path) -> None:
    tone = EncodedAudioLoop.tone(440.0, 0.2)
    path = tmp_path / "out.webm"
    muxer = Muxer(
        path, [StreamSpec("audio", "a"), StreamSpec("video", "v")], format="webm", header_wait=0
    )
    muxer.start()
    for i in range(5):
        muxer.submit(0, tone.next_frame_nowait().data, i * 960)
    muxer.close()
    result = await muxer.finished()
    assert result.packets == 5
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 480)


# --------------------------------------------------------------------- recorder


@pytest.fixture(scope="module")
def assets() -> CallAssets:
    return CallAssets.build(
        hold=EncodedAudioLoop.tone(330.0, 0.2), slate=EncodedSlate.render(64, 48, fps=5.0)
    )


async def test_recordings_get_safe_private_names_of_their_own(
    assets: CallAssets, tmp_path: Path
) -> None:
    call = Call("../../etc/passwd", "conv", ice=LOOPBACK, assets=assets)
    first, second = Recorder(call, tmp_path), Recorder(call, tmp_path)
    paths = [await first.start(), await second.start()]
    assert paths[0] != paths[1]
    for path in paths:
        assert path.parent == tmp_path
        assert path.name.startswith("etc_passwd-") and path.suffix == ".mka"
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # Nobody spoke: a file with its header and no packets, finished when the call ends.
    await call.end()
    info = await first.stop()
    assert (info.duration_seconds, info.packets) == (0.0, 0)
    assert info.path.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    await second.stop()
    with pytest.raises(CallEnded):
        await Recorder(call, tmp_path).start()
