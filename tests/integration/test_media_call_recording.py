"""Recording real calls: the parties' own Opus/VP8 packets muxed into Matroska/WebM, decoded."""

from __future__ import annotations

import asyncio
import hashlib
import time
from array import array
from collections.abc import AsyncIterator
from pathlib import Path

import av
import pytest

from media.assets import CallAssets
from media.audio_loop import EncodedAudioLoop
from media.recording import Recorder, RecordingInfo
from media.testing import tone_level
from tests.integration.test_media_call import HOLD_TONE, QUEUE_TONE, Harness, bounded

TONES = (440.0, 660.0, 880.0)


@pytest.fixture(scope="module")
def assets() -> CallAssets:
    return CallAssets.build(
        hold=EncodedAudioLoop.tone(HOLD_TONE, 1.0), queue=EncodedAudioLoop.tone(QUEUE_TONE, 1.0)
    )


@pytest.fixture
async def harness(assets: CallAssets) -> AsyncIterator[Harness]:
    made = Harness(assets)
    try:
        yield made
    finally:
        async with asyncio.timeout(10):
            await made.close()


def decoded_audio(path: Path, index: int) -> tuple[array[int], float]:
    """Stream `index` decoded to mono s16, and where its first sample sits (seconds)."""
    samples = array("h")
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48_000)
    first: float | None = None
    with av.open(str(path)) as container:
        for frame in container.decode(audio=index):
            if first is None and frame.time is not None:
                first = frame.time
            for out in resampler.resample(frame):
                samples.frombytes(bytes(out.planes[0])[: 2 * out.samples])
    return samples, first or 0.0


def decoded_sizes(path: Path, index: int) -> list[tuple[float, int, int]]:
    with av.open(str(path)) as container:
        return [
            (frame.time or 0.0, frame.width, frame.height)
            for frame in container.decode(video=index)
        ]


def dominant(samples: array[int]) -> float:
    return max(TONES, key=lambda f: tone_level(samples, f))


def assert_file_matches(info: RecordingInfo) -> None:
    data = info.path.read_bytes()
    assert info.size_bytes == len(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.dropped_packets == 0


@bounded(25)
async def test_an_audio_recording_holds_each_partys_voice(harness: Harness, tmp_path: Path) -> None:
    call = harness.calls.create("call/../7 é", "conversation-7")
    await harness.customer(call, 440.0)
    await harness.agent(call, "agent-a", 660.0)

    recorder = Recorder(call, tmp_path / "recordings")
    path = await recorder.start()
    began = time.monotonic()
    assert path.parent == tmp_path / "recordings"
    assert path.name.startswith("call_7-") and path.suffix == ".mka"
    await asyncio.sleep(2.0)
    info = await recorder.stop()
    talk = time.monotonic() - began
    summary = await call.end()
    print(f"\nrecorded {info.duration_seconds:.2f} s of {talk:.2f} s talk: {info.size_bytes} bytes")

    assert info.path == path
    assert_file_matches(info)
    assert info.streams == ("customer audio", "agent audio")
    assert info.duration_seconds == pytest.approx(talk, rel=0.1)
    assert summary.talk_seconds >= talk
    with av.open(str(path)) as container:
        titles = [s.metadata.get("title") for s in container.streams]
        codecs = {s.codec_context.name for s in container.streams}
        assert container.metadata.get("CALL_ID") == "call/../7 é"
    assert titles == ["customer audio", "agent audio"]
    assert codecs == {"opus"}
    for index, tone in enumerate((440.0, 660.0)):
        samples, _ = decoded_audio(path, index)
        assert len(samples) / 48_000 == pytest.approx(talk, rel=0.1)
        assert dominant(samples) == tone
        assert tone_level(samples[24_000:72_000], tone) > 0.7
    # stop() again, or after the call ended, gives the same answer.
    assert await recorder.stop() is info


@bounded(30)
async def test_a_video_recording_with_a_late_agent_a_transfer_and_the_call_ending(
    harness: Harness, tmp_path: Path
) -> None:
    call = harness.call()
    await harness.customer(call, 440.0, video=(352, 288))
    assert call.media == "video"
    recorder = Recorder(call, tmp_path)
    path = await recorder.start()
    began = time.monotonic()
    assert path.suffix == ".webm"
    await asyncio.sleep(0.5)
    await harness.agent(call, "agent-a", 660.0, video=(176, 144))
    joined = time.monotonic() - began
    await asyncio.sleep(1.0)
    transferred = time.monotonic() - began
    await harness.agent(call, "agent-b", 880.0, video=(160, 128), transfer=True)
    await asyncio.sleep(1.2)
    # The call ends while the recorder is writing: the file is finished all the same.
    await call.end("customer_left")
    talk = time.monotonic() - began
    assert not recorder.recording
    info = await recorder.stop()
    print(f"\nrecorded {info.duration_seconds:.2f} s of {talk:.2f} s talk: {info.size_bytes} bytes")

    assert_file_matches(info)
    assert info.duration_seconds == pytest.approx(talk, rel=0.1)
    assert info.streams == ("customer audio", "agent audio", "customer video", "agent video")
    with av.open(str(path)) as container:
        kinds = [(s.type, s.codec_context.name) for s in container.streams]
    assert kinds == [("audio", "opus"), ("audio", "opus"), ("video", "vp8"), ("video", "vp8")]

    customer, start = decoded_audio(path, 0)
    # The customer's connection was still being set up when the recording started.
    assert start < 0.3
    assert dominant(customer) == 440.0
    # One agent stream across the transfer: A's voice, then B's; it starts when A joined.
    agent, start = decoded_audio(path, 1)
    assert start == pytest.approx(joined, abs=0.15)
    split = int((transferred - start) * 48_000)
    assert tone_level(agent[: split - 4800], 660.0) > 0.5
    assert tone_level(agent[split + 24_000 :], 880.0) > 0.5

    customer_video = decoded_sizes(path, 0)
    assert {(w, h) for _, w, h in customer_video} == {(352, 288)}
    assert len(customer_video) >= 15
    agent_video = decoded_sizes(path, 1)
    sizes = [(w, h) for _, w, h in agent_video]
    assert sizes[0] == (176, 144) and sizes[-1] == (160, 128)
    assert set(sizes) == {(176, 144), (160, 128)}
    times = [t for t, _, _ in agent_video]
    assert times == sorted(times)
