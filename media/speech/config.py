"""Which speech engines to run and with what: plain values, no settings framework."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeAlias, cast, get_args

from media.speech.background import DEFAULT_NICE

__all__ = ["SpeechConfig", "SttEngine", "TtsEngine"]

SttEngine: TypeAlias = Literal["whisper", "off"]
TtsEngine: TypeAlias = Literal["piper", "espeak", "off"]


@dataclass(frozen=True, slots=True)
class SpeechConfig:
    """`None` paths mean the models packaged with the `speech` extra."""

    stt_engine: SttEngine = "whisper"
    # Any faster-whisper (CTranslate2) model directory.
    stt_model_dir: Path | None = None
    stt_threads: int = min(2, os.cpu_count() or 1)
    # How much lower than the media speech recognition runs (0-19, Linux nice; 0: the
    # same priority). Media first: a transcript can be late, a call's audio cannot.
    stt_nice: int = DEFAULT_NICE
    # Words Whisper should expect ("card, transfer, balance"); None: no prompt.
    stt_prompt: str | None = None
    tts_engine: TtsEngine = "piper"
    # A Piper voice's .onnx file (its .onnx.json next to it).
    tts_voice: Path | None = None
    # One thread answers soonest when the machine is busy (measured on 2 cores).
    tts_threads: int = 1
    espeak_executable: str = "espeak-ng"

    def __post_init__(self) -> None:
        if self.stt_engine not in get_args(SttEngine):
            raise ValueError(f"stt_engine must be one of {get_args(SttEngine)}")
        if self.tts_engine not in get_args(TtsEngine):
            raise ValueError(f"tts_engine must be one of {get_args(TtsEngine)}")
        if self.stt_threads < 1 or self.tts_threads < 1:
            raise ValueError("threads must be at least 1")
        if not 0 <= self.stt_nice <= 19:
            raise ValueError("stt_nice must be between 0 and 19")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SpeechConfig:
        """From the `TANDEM_STT_*` / `TANDEM_TTS_*` variables (the names the README lists)."""
        env = os.environ if environ is None else environ
        defaults = cls()

        def path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value).expanduser() if value else None

        def number(name: str, default: int) -> int:
            value = env.get(name, "").strip()
            return int(value) if value else default

        return cls(
            stt_engine=cast(SttEngine, env.get("TANDEM_STT_ENGINE", defaults.stt_engine).lower()),
            stt_model_dir=path("TANDEM_STT_MODEL_DIR"),
            stt_threads=number("TANDEM_STT_THREADS", defaults.stt_threads),
            stt_nice=number("TANDEM_STT_NICE", defaults.stt_nice),
            stt_prompt=env.get("TANDEM_STT_PROMPT") or None,
            tts_engine=cast(TtsEngine, env.get("TANDEM_TTS_ENGINE", defaults.tts_engine).lower()),
            tts_voice=path("TANDEM_TTS_VOICE"),
            tts_threads=number("TANDEM_TTS_THREADS", defaults.tts_threads),
        )
