"""Hold and queue audio: a sound encoded to Opus once, then replayed as packets."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

import av
from av.audio.codeccontext import AudioCodecContext
from av.codec.context import CodecContext

from media.frames import AUDIO_CLOCK_RATE, OPUS_FRAME_SAMPLES, EncodedFrame

__all__ = ["EncodedAudioLoop", "encode_opus_loop", "tone_pcm"]

_MAX_SAMPLE = 32767


class EncodedAudioLoop:
    """Opus packets replayed in a loop, at no encoding cost per call.

    Every caller on hold hears the same packets: they are encoded at start-up and each
    `next_frame()` hands out the next one, immediately. It is a source for
    `SwitchableAudioTrack`, which paces it; used there, a hold costs what forwarding does.

    Building one encodes on the calling thread (about 0.1 s for two seconds of sound),
    which stalls every call on the event loop: build the loops once when the app starts
    (an aiohttp `cleanup_ctx`), and give each call its own `EncodedAudioLoop(packets)`
    over the shared packets, since the read position is per listener.
    """

    def __init__(self, packets: Sequence[bytes]) -> None:
        if not packets:
            raise ValueError("a loop needs at least one packet")
        self._packets = tuple(packets)
        self._index = 0
        self._timestamp = 0

    @classmethod
    def tone(
        cls, frequency: float = 440.0, seconds: float = 1.0, level: float = 0.2
    ) -> EncodedAudioLoop:
        return cls(encode_opus_loop(tone_pcm(frequency, seconds, level)))

    @classmethod
    def hold_music(cls) -> EncodedAudioLoop:
        """A soft two-note chime, two seconds long: unmistakably "you are on hold"."""
        notes = [(523.25, 0.45), (0.0, 0.05), (659.25, 0.45), (0.0, 1.05)]
        pcm = array("h")
        for frequency, seconds in notes:
            pcm.extend(tone_pcm(frequency, seconds, 0.15, fade_seconds=0.05))
        return cls(encode_opus_loop(pcm))

    @classmethod
    def silence(cls) -> EncodedAudioLoop:
        return cls(encode_opus_loop(array("h", bytes(2 * OPUS_FRAME_SAMPLES * 5))))

    @property
    def packets(self) -> tuple[bytes, ...]:
        return self._packets

    def __len__(self) -> int:
        return len(self._packets)

    def next_frame_nowait(self) -> EncodedFrame:
        frame = EncodedFrame("opus", self._packets[self._index], self._timestamp)
        self._index = (self._index + 1) % len(self._packets)
        self._timestamp += OPUS_FRAME_SAMPLES
        return frame

    async def next_frame(self) -> EncodedFrame:
        return self.next_frame_nowait()


def tone_pcm(
    frequency: float, seconds: float, level: float, *, fade_seconds: float = 0.0
) -> array[int]:
    """Mono 48 kHz s16 samples of a sine (silence for frequency 0), faded in and out."""
    count = round(seconds * AUDIO_CLOCK_RATE / OPUS_FRAME_SAMPLES) * OPUS_FRAME_SAMPLES
    fade = max(1, int(fade_seconds * AUDIO_CLOCK_RATE))
    step = 2 * math.pi * frequency / AUDIO_CLOCK_RATE
    amplitude = level * _MAX_SAMPLE
    samples = array("h")
    for i in range(count):
        envelope = min(1.0, i / fade, (count - 1 - i) / fade) if fade_seconds else 1.0
        samples.append(int(amplitude * envelope * math.sin(step * i)))
    return samples


def encode_opus_loop(pcm: array[int], bit_rate: int = 32_000) -> list[bytes]:
    """Encode mono 48 kHz s16 `pcm` (whole 20 ms frames) to Opus packets that loop cleanly.

    The encoder runs over the sound twice and keeps the last pass: its packets were
    encoded with the end of the sound as their history, so the jump from the last packet
    back to the first is as smooth as any other step.
    """
    frames = len(pcm) // OPUS_FRAME_SAMPLES
    if frames == 0:
        raise ValueError("need at least one 20 ms frame of samples")
    encoder = _opus_encoder(bit_rate)
    packets: list[bytes] = []
    raw = pcm[: frames * OPUS_FRAME_SAMPLES].tobytes()
    frame_bytes = 2 * OPUS_FRAME_SAMPLES
    pts = 0
    # Two passes, or more for a sound shorter than the encoder's few frames of delay.
    for _ in range(2 + -(-4 // frames)):
        for i in range(frames):
            frame = av.AudioFrame(format="s16", layout="mono", samples=OPUS_FRAME_SAMPLES)
            frame.planes[0].update(raw[i * frame_bytes : (i + 1) * frame_bytes])
            frame.sample_rate = AUDIO_CLOCK_RATE
            frame.pts = pts
            pts += OPUS_FRAME_SAMPLES
            packets.extend(bytes(p) for p in encoder.encode(frame))
    # Not flushed: the flush would pad the tail with silence. The encoder's delay shifts
    # the packets a little against the input, but the last `frames` packets still cover
    # exactly one period of the loop.
    return packets[-frames:]


def _opus_encoder(bit_rate: int) -> AudioCodecContext:
    encoder = CodecContext.create("libopus", "w")
    encoder.sample_rate = AUDIO_CLOCK_RATE
    encoder.format = "s16"
    encoder.layout = "mono"
    encoder.bit_rate = bit_rate
    # Music on hold is music; "audio" keeps its tone instead of shaping it like speech.
    encoder.options = {"application": "audio", "frame_duration": "20"}
    return encoder
