"""The aiortc internals media/encoded_receive.py relies on are still there.

If this fails after an aiortc upgrade, read the message: it names what moved. Do not
loosen the pin in pyproject.toml before adapting `media/encoded_receive.py`.
"""

from __future__ import annotations

import queue
from importlib.metadata import version
from typing import Any

import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.encoded_receive import (
    SUPPORTED_AIORTC,
    AiortcInternalsChanged,
    EncodedReceive,
    check_aiortc_internals,
    on_keyframe_request,
    receiver_for_track,
)
from media.frames import EncodedFrame

OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=96)
VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
PCMU = RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, channels=1, payloadType=0)


class Sink:
    def __init__(self) -> None:
        self.frames: list[EncodedFrame] = []
        self.closed = False

    def push(self, frame: EncodedFrame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.closed = True


def test_installed_aiortc_is_the_checked_version() -> None:
    assert version("aiortc").startswith(SUPPORTED_AIORTC), (
        f"aiortc {version('aiortc')} is installed but media/encoded_receive.py was checked "
        f"against {SUPPORTED_AIORTC}x: re-check the hook, then move SUPPORTED_AIORTC"
    )
    assert aiortc.__version__ == version("aiortc")


def test_the_private_internals_the_hook_uses_are_unchanged() -> None:
    check_aiortc_internals()


async def test_a_receiver_has_the_decoder_queue_the_hook_replaces() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        state = vars(receiver)
        assert isinstance(state.get("_RTCRtpReceiver__decoder_queue"), queue.Queue), (
            "RTCRtpReceiver.__decoder_queue is gone or no longer a queue.Queue: "
            "media/encoded_receive.py cannot divert encoded frames"
        )
        assert state.get("_RTCRtpReceiver__started") is False
        assert hasattr(receiver, "_send_rtcp_pli")
    finally:
        await pc.close()


async def receiver_with_hook() -> tuple[RTCPeerConnection, RTCRtpReceiver, Sink, EncodedReceive]:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("audio").receiver
    sink = Sink()
    return pc, receiver, sink, EncodedReceive(receiver, sink)


def decoder_queue(receiver: RTCRtpReceiver) -> Any:
    return vars(receiver)["_RTCRtpReceiver__decoder_queue"]


async def test_frames_go_to_the_sink_and_never_to_the_decoder() -> None:
    pc, receiver, sink, hook = await receiver_with_hook()
    try:
        original: queue.Queue[Any] = decoder_queue(receiver)._original
        # Exactly what RTCRtpReceiver._handle_rtp_packet does with a complete frame.
        decoder_queue(receiver).put((OPUS, JitterFrame(data=b"\xfc\x01\x02", timestamp=960)))
        decoder_queue(receiver).put((VP8, JitterFrame(data=b"\x10\x02", timestamp=3000)))
        decoder_queue(receiver).put((VP8, JitterFrame(data=b"\x11\x02", timestamp=6000)))
        decoder_queue(receiver).put((PCMU, JitterFrame(data=b"\xff", timestamp=160)))
        assert original.qsize() == 0
        assert [(f.codec, f.data, f.timestamp, f.keyframe) for f in sink.frames] == [
            ("opus", b"\xfc\x01\x02", 960, True),
            ("vp8", b"\x10\x02", 3000, True),
            ("vp8", b"\x11\x02", 6000, False),
        ]
        assert hook.frames == 3
    finally:
        await pc.close()


async def test_the_stop_sentinel_reaches_the_decoder_thread_and_closes_the_sink() -> None:
    pc, receiver, sink, _hook = await receiver_with_hook()
    try:
        decoder_queue(receiver).put(None)
        assert decoder_queue(receiver).get(timeout=1) is None
        assert sink.closed
    finally:
        await pc.close()


async def test_a_receiver_cannot_be_hooked_twice() -> None:
    pc, receiver, _sink, _hook = await receiver_with_hook()
    try:
        with pytest.raises(ValueError, match="already"):
            EncodedReceive(receiver, Sink())
    finally:
        await pc.close()


async def test_a_receiver_without_the_queue_fails_loudly() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("audio").receiver
        del vars(receiver)["_RTCRtpReceiver__decoder_queue"]
        with pytest.raises(AiortcInternalsChanged):
            EncodedReceive(receiver, Sink())
    finally:
        await pc.close()


async def test_receiver_for_track_refuses_a_track_it_does_not_receive() -> None:
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio")
        with pytest.raises(LookupError):
            receiver_for_track(pc, aiortc.AudioStreamTrack())
    finally:
        await pc.close()


async def test_keyframe_requests_on_a_sender_reach_the_callback() -> None:
    pc = RTCPeerConnection()
    try:
        sender = pc.addTransceiver("video").sender
        calls: list[str] = []
        on_keyframe_request(sender, lambda: calls.append("upstream"))
        sender._send_keyframe()
        assert calls == ["upstream"]
    finally:
        await pc.close()


def rtp(sequence: int, timestamp: int, data: bytes, ssrc: int = 1234) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=sequence, timestamp=timestamp, ssrc=ssrc)
    packet._data = data  # type: ignore[attr-defined] - what the receiver depayloads into
    return packet


async def test_an_audio_receiver_hands_each_packet_on_at_once() -> None:
    pc, receiver, _sink, _hook = await receiver_with_hook()
    try:
        frames = vars(receiver)["_RTCRtpReceiver__jitter_buffer"]
        added = [frames.add(rtp(s, s * 960, bytes([s]))) for s in (10, 11, 13, 12, 13, 14)]
        # aiortc's audio jitter buffer would hold each back until four more arrived.
        delivered = [(f.data, f.timestamp) for pli, f in added if f is not None]
        assert [pli for pli, _ in added] == [False] * 6
        assert delivered == [(b"\x0a", 9600), (b"\x0b", 10560), (b"\x0d", 12480), (b"\x0e", 13440)]
        # A sender that restarted (far behind, or a new SSRC) is followed, not refused.
        assert frames.add(rtp(5000, 1, b"r"))[1] is not None
        assert frames.add(rtp(4000, 2, b"s"))[1] is not None
        assert frames.add(rtp(3999, 3, b"t", ssrc=99))[1] is not None
    finally:
        await pc.close()


async def test_a_video_receiver_keeps_aiortcs_jitter_buffer() -> None:
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        before = vars(receiver)["_RTCRtpReceiver__jitter_buffer"]
        EncodedReceive(receiver, Sink())
        # Video frames span packets and may need retransmissions: reassembly stays.
        assert vars(receiver)["_RTCRtpReceiver__jitter_buffer"] is before
    finally:
        await pc.close()
