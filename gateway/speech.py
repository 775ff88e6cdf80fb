"""The speech engines a node runs: loaded in the background at start.

Loading Whisper, the VAD and the Piper voice takes a few seconds; the server listens at
once, and calls started before the engines are ready are simply not transcribed. What
runs and what is off (and why) is logged once, in plain words.
"""

from __future__ import annotations

import asyncio
import logging
import time

from media.speech.config import SpeechConfig
from media.speech.factory import Speech, build_speech
from media.speech.ports import SpeechToText, TextToSpeech

__all__ = ["SpeechRuntime"]

log = logging.getLogger("tandem.speech")


class SpeechRuntime:
    """Speech-to-text and text-to-speech, once loaded (either may stay None)."""

    def __init__(
        self, config: SpeechConfig | None, *, transcribe: bool, engines: Speech | None = None
    ) -> None:
        # None: speech is off altogether (e.g. calls are disabled on this node).
        self._config = config
        self._transcribe = transcribe
        # Engines the composition root was given (a bank's own, or tests' fakes): used
        # as they are, nothing is loaded.
        self._speech: Speech | None = engines
        self._loading: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._config is not None and self._loading is None and self._speech is None:
            self._loading = asyncio.create_task(self._load(), name="speech-load")

    async def wait_ready(self) -> bool:
        if self._loading is not None:
            await asyncio.shield(self._loading)
        return self._speech is not None

    @property
    def stt(self) -> SpeechToText | None:
        return self._speech.stt if self._speech is not None else None

    @property
    def tts(self) -> TextToSpeech | None:
        return self._speech.tts if self._speech is not None else None

    @property
    def transcriber(self) -> SpeechToText | None:
        """The engine live call transcripts use, or None when they are off."""
        return self.stt if self._transcribe else None

    def status(self) -> dict[str, object]:
        if self._config is None and self._speech is None:
            return {"speech": "off"}
        if self._speech is None:
            return {"speech": "loading"}
        return {
            "speech": "ready",
            "stt": self._speech.stt is not None,
            "tts": self._speech.tts is not None,
            "transcripts": self.transcriber is not None,
        }

    async def _load(self) -> None:
        assert self._config is not None
        began = time.monotonic()
        try:
            self._speech = await asyncio.to_thread(build_speech, self._config)
        except Exception:
            log.exception("speech: the engines could not be loaded; speech features are off")
            return
        for line in self._speech.status:
            log.info("speech: %s", line)
        if not self._transcribe:
            log.info("speech: live call transcripts are off (TANDEM_TRANSCRIPTS=false)")
        log.info("speech: ready in %.1f s", time.monotonic() - began)

    async def close(self) -> None:
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        if self._speech is not None:
            await self._speech.aclose()
