"""Mouth openness from the audio envelope: levels, attack, release, normalisation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media.digital_human.lipsync import MouthEnvelope, MouthSettings, chunk_level

RATE = 48_000


def tone(level: float, frequency: float = 220.0) -> bytes:
    """20 ms of a sine whose RMS is `level` (of full scale)."""
    t = np.arange(960) / RATE
    samples = level * math.sqrt(2) * 32768 * np.sin(2 * np.pi * frequency * t)
    return np.clip(samples, -32768, 32767).astype(np.int16).tobytes()


def db(value: float) -> float:
    return 10 ** (value / 20)


def test_chunk_level_is_rms_of_full_scale() -> None:
    assert chunk_level(bytes(1920)) == 0.0
    assert chunk_level(b"") == 0.0
    assert chunk_level(tone(0.25)) == pytest.approx(0.25, rel=0.01)
    square = np.full(960, -32768, np.int16).tobytes()
    assert chunk_level(square) == pytest.approx(1.0)


def test_silence_and_noise_below_the_floor_keep_the_mouth_closed() -> None:
    envelope = MouthEnvelope()
    for _ in range(50):
        assert envelope.feed(0.0) == 0.0
    for _ in range(50):
        assert envelope.feed(db(-50)) == 0.0


def test_speech_opens_the_mouth_within_a_few_chunks_and_it_closes_after() -> None:
    envelope = MouthEnvelope()
    opened = [envelope.feed(db(-16)) for _ in range(4)]
    assert opened[0] > 0.4  # attack: 25 ms, about one chunk
    assert opened[2] > 0.9
    assert opened == sorted(opened)
    closing = [envelope.feed(0.0) for _ in range(12)]
    assert closing == sorted(closing, reverse=True)
    assert closing[0] > 0.5  # release is slower than attack: no snapping shut
    assert closing[-1] < 0.05  # but it is shut within a quarter of a second


def test_louder_opens_wider() -> None:
    levels = [-40, -34, -28, -22, -16]
    openness = []
    for level in levels:
        envelope = MouthEnvelope()
        for _ in range(10):
            value = envelope.feed(db(level))
        openness.append(value)
    assert openness == sorted(openness)
    assert openness[0] < 0.3 and openness[-1] > 0.95


def test_a_quiet_voice_is_normalised_to_its_own_peak() -> None:
    # A voice 8 dB quieter than the starting peak opens the mouth fully once its own
    # peak is learnt (the peak sinks slowly towards it) ...
    envelope = MouthEnvelope()
    first = [envelope.feed(db(-24)) for _ in range(5)][-1]
    for _ in range(300):  # 6 s of speech
        envelope.feed(db(-24))
    assert first < 0.8
    assert envelope.openness > 0.95
    # ... but the peak stays 20 dB above the floor: faint noise never opens it fully.
    faint = MouthEnvelope()
    for _ in range(600):
        faint.feed(db(-35))
    assert faint.openness == pytest.approx(0.5, abs=0.01)


def test_the_peak_follows_a_loud_voice_at_once() -> None:
    envelope = MouthEnvelope()
    for _ in range(20):
        envelope.feed(db(-3))  # much louder than expected
    for _ in range(10):
        quieter = envelope.feed(db(-15))
    assert 0.5 < quieter < 0.85  # a 12 dB quieter syllable is half open, not wide open


def test_rest_closes_at_once() -> None:
    envelope = MouthEnvelope()
    for _ in range(5):
        envelope.feed(db(-16))
    envelope.rest()
    assert envelope.openness == 0.0


@pytest.mark.parametrize(
    "settings",
    [
        {"attack": 0.0},
        {"release": -1.0},
        {"min_range_db": 0.0},
    ],
)
def test_settings_are_checked(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - one message per field
        MouthSettings(**settings)
