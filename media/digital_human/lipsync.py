"""How open the mouth is, from the loudness of the audio being played (pure, no I/O).

A mouth follows the *envelope* of speech, not its waveform: each 20 ms chunk's RMS level
(in dBFS, as loudness is heard) is mapped between a noise floor and the voice's recent
peak, then smoothed: opening fast (a syllable's onset is sudden) and closing a little
slower (lips do not snap shut), which reads as speech rather than flapping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MouthEnvelope", "MouthSettings", "chunk_level"]

_FULL_SCALE = 32768.0


def chunk_level(pcm: bytes) -> float:
    """RMS of mono s16 PCM, 0.0 (silence) to 1.0 (full scale)."""
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm, np.int16, len(pcm) // 2).astype(np.float32)
    return float(np.sqrt(np.dot(samples, samples) / samples.size)) / _FULL_SCALE


@dataclass(frozen=True, slots=True)
class MouthSettings:
    # Below this a chunk is silence (breath, codec noise): the mouth rests closed.
    floor_db: float = -45.0
    # The loudest recent chunk opens the mouth fully. The peak starts here, follows
    # louder chunks at once and sinks slowly, so a quiet voice still moves the mouth...
    initial_peak_db: float = -16.0
    peak_decay_db_per_s: float = 2.0
    # ... but never below floor + this, or background noise would look like shouting.
    min_range_db: float = 20.0
    # Time constants of the smoothing, seconds.
    attack: float = 0.025
    release: float = 0.07

    def __post_init__(self) -> None:
        if self.attack <= 0 or self.release <= 0:
            raise ValueError("attack and release must be positive")
        if self.min_range_db <= 0:
            raise ValueError("min_range_db must be positive")


class MouthEnvelope:
    """Feed one level per chunk of audio as it is played; read the openness (0..1)."""

    def __init__(self, settings: MouthSettings | None = None) -> None:
        self._settings = settings or MouthSettings()
        self._peak_db = self._settings.initial_peak_db
        self.openness = 0.0

    def feed(self, level: float, seconds: float = 0.02) -> float:
        """`level`: the chunk's RMS (see `chunk_level`); `seconds`: its duration."""
        settings = self._settings
        db = 20.0 * math.log10(level) if level > 1e-9 else -200.0
        lowest_peak = settings.floor_db + settings.min_range_db
        self._peak_db = max(db, self._peak_db - settings.peak_decay_db_per_s * seconds, lowest_peak)
        target = (db - settings.floor_db) / (self._peak_db - settings.floor_db)
        target = min(1.0, max(0.0, target))
        tau = settings.attack if target > self.openness else settings.release
        self.openness += (target - self.openness) * (1.0 - math.exp(-seconds / tau))
        return self.openness

    def rest(self) -> None:
        """Nothing is being played: the mouth is closed from now on."""
        self.openness = 0.0
