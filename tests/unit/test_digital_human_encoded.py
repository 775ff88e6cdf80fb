"""The digital human as encoded sources: Opus frames of the voice, VP8 frames of the face."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from media.digital_human.avatar import AvatarRenderer
from media.digital_human.encoded import OpusVoiceSource, Vp8AvatarSource
from media.digital_human.voice import VoiceOutput
from media.frames import vp8_dimensions
from media.speech.fake import FakeTextToSpeech


class Still:
    mouth_openness = 0.0


@pytest.fixture(scope="module")
def renderer() -> AvatarRenderer:
    return AvatarRenderer(320, 180)


async def test_the_voice_as_opus_frames_decodes_back_to_the_voice() -> None:
    voice = VoiceOutput(FakeTextToSpeech())
    source = OpusVoiceSource(voice)
    voice.say("one two three")
    await asyncio.sleep(0.01)
    frames = []
    for _ in range(40):
        frames.append(source.next_frame_nowait())
        await asyncio.sleep(0)
    assert all(f.codec == "opus" for f in frames)
    assert [f.timestamp for f in frames] == [960 * i for i in range(40)]
    decoder = av.CodecContext.create("opus", "r")
    levels = []
    for frame in frames:
        for decoded in decoder.decode(av.Packet(frame.data)):
            samples = decoded.to_ndarray().astype(np.float64)
            levels.append(float(np.sqrt(np.mean(samples**2))))
    scale = 32768 if decoder.format.name.startswith("s16") else 1.0
    loud = [level / scale > 0.05 for level in levels]
    # Three words of 8 frames of tone and 2 of pause, then silence; the encoder's 6.5 ms
    # look-ahead spreads each word over a ninth frame.
    assert 24 <= sum(loud) <= 27 and not any(loud[32:])
    assert source.encode_seconds > 0
    await voice.aclose()
    with pytest.raises(MediaStreamError):
        await source.next_frame()


async def test_the_face_as_vp8_frames_starts_and_restarts_on_keyframes(
    renderer: AvatarRenderer,
) -> None:
    source = Vp8AvatarSource(renderer, Still(), fps=50, keyframe_interval=100)
    first = await source.next_frame()
    assert first.keyframe and vp8_dimensions(first.data) == (320, 180)
    following = [await source.next_frame() for _ in range(3)]
    assert not any(f.keyframe for f in following)
    assert [f.timestamp for f in following] == sorted({f.timestamp for f in following})

    source.request_keyframe()  # the listener lost a picture
    assert (await source.next_frame()).keyframe
    assert not (await source.next_frame()).keyframe

    # A switchable track switching away cancels its read: the next read restarts.
    read = asyncio.ensure_future(source.next_frame())
    await asyncio.sleep(0)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert (await source.next_frame()).keyframe
    assert not (await source.next_frame()).keyframe

    await asyncio.sleep(0.6)  # nobody read for a while
    assert (await source.next_frame()).keyframe
    assert source.keyframes == 4

    source.close()
    with pytest.raises(MediaStreamError):
        await source.next_frame()


async def test_the_face_is_paced_at_its_frame_rate(renderer: AvatarRenderer) -> None:
    source = Vp8AvatarSource(renderer, Still(), fps=20)
    loop = asyncio.get_running_loop()
    began = loop.time()
    frames = [await source.next_frame() for _ in range(11)]
    assert 0.45 < loop.time() - began < 0.7  # ten intervals of 50 ms
    assert frames[-1].timestamp - frames[0].timestamp == 10 * 4500
    decoder = av.CodecContext.create("libvpx", "r")
    pictures = [p for f in frames for p in decoder.decode(av.Packet(f.data))]
    assert len(pictures) == 11 and (pictures[0].width, pictures[0].height) == (320, 180)
