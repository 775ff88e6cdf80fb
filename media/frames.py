"""Encoded media frames: what an inbound track yields before (and instead of) decoding."""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import av

__all__ = [
    "AUDIO_CLOCK_RATE",
    "AUDIO_TIME_BASE",
    "OPUS_FRAME_SAMPLES",
    "VIDEO_CLOCK_RATE",
    "VIDEO_TIME_BASE",
    "Codec",
    "EncodedFrame",
    "EncodedPacket",
    "h264_is_keyframe",
    "make_packet",
    "vp8_dimensions",
    "vp8_is_keyframe",
]

Codec: TypeAlias = Literal["opus", "vp8", "h264"]
# What a track hands aiortc's sender to be packetised without encoding.
EncodedPacket: TypeAlias = "av.Packet[Any]"

# WebRTC's Opus RTP clock is always 48 kHz, whatever the codec's internal rate.
AUDIO_CLOCK_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_CLOCK_RATE)
# Browsers and aiortc send 20 ms Opus packets.
OPUS_FRAME_SAMPLES = 960
VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)


@dataclass(frozen=True, slots=True)
class EncodedFrame:
    """One complete encoded frame as the jitter buffer reassembled it.

    `timestamp` is in the codec's RTP clock (48 kHz for Opus, 90 kHz for video), counted
    from the track's first frame. For video, `data` is the bare codec frame (the RTP payload
    descriptor already removed), which is exactly what a sender re-packetises.
    """

    codec: Codec
    data: bytes
    timestamp: int
    keyframe: bool = True

    @property
    def kind(self) -> Literal["audio", "video"]:
        return "audio" if self.codec == "opus" else "video"

    @property
    def clock_rate(self) -> int:
        return AUDIO_CLOCK_RATE if self.codec == "opus" else VIDEO_CLOCK_RATE


def make_packet(data: bytes, pts: int, time_base: fractions.Fraction) -> EncodedPacket:
    """An `av.Packet` that aiortc's sender packetises as is, without encoding."""
    packet: EncodedPacket = av.Packet(data)
    packet.pts = pts
    packet.time_base = time_base
    return packet


def vp8_is_keyframe(data: bytes) -> bool:
    # RFC 6386 section 9.1: bit 0 of the frame tag is 0 for a key frame.
    return bool(data) and not data[0] & 0x01


def vp8_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 keyframe, None for any other frame (RFC 6386 section 9.1)."""
    if len(data) < 10 or not vp8_is_keyframe(data) or data[3:6] != b"\x9d\x01\x2a":
        return None
    width = int.from_bytes(data[6:8], "little") & 0x3FFF
    height = int.from_bytes(data[8:10], "little") & 0x3FFF
    return (width, height) if width and height else None


def h264_is_keyframe(data: bytes) -> bool:
    """Whether an Annex B access unit holds an IDR slice or a sequence parameter set."""
    start = 0
    while True:
        found = data.find(b"\x00\x00\x01", start)
        if found < 0 or found + 3 >= len(data):
            return False
        nal_type = data[found + 3] & 0x1F
        # 5: IDR slice, 7: SPS (a decoder can start there).
        if nal_type in (5, 7):
            return True
        start = found + 3
