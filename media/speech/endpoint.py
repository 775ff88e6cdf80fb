"""Where utterances begin and end, from per-window speech probabilities (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["Endpoint", "EndpointSettings", "Endpointer"]


@dataclass(frozen=True, slots=True)
class EndpointSettings:
    """Seconds and probabilities; the defaults suit a phone-like conversation."""

    # A window at or above `threshold` is speech; once speaking, windows stay speech down
    # to `release`, so a soft syllable does not split a word (hysteresis).
    threshold: float = 0.5
    release: float = 0.35
    # Silence that ends an utterance. Shorter answers faster but cuts slow speakers.
    end_silence: float = 0.4
    # Silence after which the words so far are probably the whole utterance: the stream
    # starts transcribing them then, so the final is ready when `end_silence` confirms it.
    settle_silence: float = 0.15
    # Bursts with less speech than this are noise (a click, a cough).
    min_speech: float = 0.2
    # Whisper sees at most 30 s; a monologue is cut into utterances this long.
    max_utterance: float = 20.0

    def __post_init__(self) -> None:
        if not 0 < self.release <= self.threshold < 1:
            raise ValueError("need 0 < release <= threshold < 1")
        if not 0 < self.settle_silence < self.end_silence:
            raise ValueError("need 0 < settle_silence < end_silence")
        if self.max_utterance <= self.end_silence:
            raise ValueError("max_utterance must be longer than end_silence")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """`start`/`end`: sample positions of the utterance's first and last speech window.

    started: speech began. settled: `settle_silence` of silence after `end` (speech may
    still resume). ended: the utterance is over. discarded: it was over, but too short.
    """

    kind: Literal["started", "settled", "ended", "discarded"]
    start: int
    end: int


class Endpointer:
    """Feed one probability per window of `window` samples at `rate`, in order."""

    def __init__(self, settings: EndpointSettings, *, rate: int, window: int) -> None:
        self._settings = settings
        self._window = window
        self._end_silence = round(settings.end_silence * rate)
        self._settle_silence = round(settings.settle_silence * rate)
        self._min_speech = round(settings.min_speech * rate)
        self._max_utterance = round(settings.max_utterance * rate)
        self.position = 0
        self._start: int | None = None
        self._voice_end = 0
        self._voiced = 0
        self._voicing = False
        self._settled = False

    @property
    def in_utterance(self) -> bool:
        return self._start is not None

    @property
    def utterance_start(self) -> int | None:
        return self._start

    @property
    def voice_end(self) -> int:
        """End of the last speech window (meaningful inside an utterance)."""
        return self._voice_end

    @property
    def voiced(self) -> int:
        """Samples of speech in the current utterance so far."""
        return self._voiced

    @property
    def settled(self) -> bool:
        return self._settled

    def feed(self, probability: float) -> Endpoint | None:
        settings = self._settings
        window_start = self.position
        self.position += self._window
        if self._start is None:
            if probability < settings.threshold:
                return None
            self._start = window_start
            self._voice_end = self.position
            self._voiced = self._window
            self._voicing = True
            self._settled = False
            return Endpoint("started", window_start, self.position)
        self._voicing = probability >= settings.threshold or (
            self._voicing and probability >= settings.release
        )
        if self._voicing:
            self._voice_end = self.position
            self._voiced += self._window
            self._settled = False
        silence = self.position - self._voice_end
        if self.position - self._start >= self._max_utterance:
            return self._finish(self.position if self._voicing else self._voice_end)
        if silence >= self._end_silence:
            return self._finish(self._voice_end)
        if silence >= self._settle_silence and not self._settled:
            self._settled = True
            return Endpoint("settled", self._start, self._voice_end)
        return None

    def finish(self) -> Endpoint | None:
        """End of input: the utterance in progress, if any, ends here."""
        if self._start is None:
            return None
        return self._finish(self._voice_end)

    def _finish(self, end: int) -> Endpoint:
        assert self._start is not None
        kind: Literal["ended", "discarded"] = (
            "ended" if self._voiced >= self._min_speech else "discarded"
        )
        endpoint = Endpoint(kind, self._start, end)
        self._start = None
        self._voicing = False
        self._settled = False
        self._voiced = 0
        return endpoint
