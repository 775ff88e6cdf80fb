"""What makes a still face look alive: blinks and a slight sway (pure functions of time).

Both depend only on the time and a seed, so a frame can be rendered for any instant, in
any order, and two avatars with different seeds do not blink in unison.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Motion"]

_MASK = (1 << 64) - 1


def _unit(seed: int, index: int) -> float:
    """A number in [0, 1) from (seed, index): splitmix64, cheap and stateless."""
    z = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return ((z ^ (z >> 31)) >> 11) / float(1 << 53)


@dataclass(frozen=True, slots=True)
class Motion:
    """Blinks of `blink_seconds`, one per `blink_period`, placed at random within it so
    that two blinks are 3-5 s apart by default; sway of a few pixels, slower than speech."""

    seed: int = 0
    blink_period: float = 4.0
    blink_jitter: float = 1.0
    blink_seconds: float = 0.15
    sway_pixels: float = 3.0
    bob_pixels: float = 2.0

    def __post_init__(self) -> None:
        if not 0 <= self.blink_jitter < self.blink_period - self.blink_seconds:
            raise ValueError("blink_jitter must leave room for the blink in its period")

    def eyes_closed(self, t: float) -> bool:
        slot = math.floor(t / self.blink_period)
        # Blink k starts at period * k + jitter * u(k); checking this slot and the one
        # before covers a blink that began in the previous slot.
        for k in (slot, slot - 1):
            start = self.blink_period * k + self.blink_jitter * _unit(self.seed, k)
            if start <= t < start + self.blink_seconds:
                return True
        return False

    def offset(self, t: float) -> tuple[float, float]:
        """(dx, dy) in pixels at `t`: a slow sway with a slower drift, and a breath's bob."""
        phase = 2 * math.pi * _unit(self.seed, -1)
        dx = self.sway_pixels * (
            0.75 * math.sin(2 * math.pi * t / 6.7 + phase) + 0.25 * math.sin(2 * math.pi * t / 2.9)
        )
        dy = self.bob_pixels * math.sin(2 * math.pi * t / 4.3 + 2 * phase)
        return dx, dy
