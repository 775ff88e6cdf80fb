"""Speech to text with faster-whisper (MIT; CTranslate2, MIT) and Silero VAD.

Needs the `speech` extra: import this module lazily.

Latency is the point here. Whisper's encoder always reads 30 s of audio; on a CPU that
is most of a second even for the tiny model, longer than the whole end-of-speech ->
final budget. CTranslate2 accepts a shorter input, so an utterance is encoded with just
a few seconds of silence after it (`context_margin`), 5-10x faster. With so little room
the model tends to say the utterance again after it has said it once; decoding with
timestamps shows where: text whose timestamps start past the end of the audio, or that
repeats (the beginning of) the segment before, is dropped; a loop without timestamps (a
prompt makes the model leave them out) is cut where it starts.

This uses `WhisperModel`'s public attributes (`model`, `feature_extractor`,
`hf_tokenizer`), not its `transcribe()`: hence faster-whisper is pinned to a minor.
"""

from __future__ import annotations

import asyncio
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import ctranslate2
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer

from media.speech.background import DEFAULT_NICE, lower_thread_priority
from media.speech.priority_worker import PriorityWorker
from media.speech.repetition import repeats, without_runaway
from media.speech.stream import RATE, Kind, StreamSettings, TranscribingStream
from media.speech.vad import SileroDetector, SileroModel

__all__ = ["WhisperOptions", "WhisperSpeechToText", "WhisperTranscriber"]

_HOP = 160  # samples per mel frame
_MAX_FRAMES = 3000  # 30 s: the encoder's positional embeddings
_SECONDS_PER_TIMESTAMP = 0.02


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    threads: int = min(4, os.cpu_count() or 1)
    language: str = "en"
    # Words to expect (e.g. "card, transfer, balance"): Whisper's prompt, nudging
    # recognition towards them. None: no prompt.
    prompt: str | None = None
    # Seconds of silence encoded after the utterance (see the module's docstring).
    context_margin: float = 3.0
    # Whisper's own "nothing was said" estimate; with a low average log-probability as
    # well, the text is taken for a hallucination and dropped (faster-whisper's defaults).
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    # How much lower than the media the speech threads run (`background`; 0: the same).
    nice: int = DEFAULT_NICE


class WhisperTranscriber:
    """A `Transcriber`: one utterance (16 kHz float32) in, its text out, on `worker`."""

    def __init__(self, model: WhisperModel, options: WhisperOptions, worker: PriorityWorker):
        self._model = model
        self._options = options
        self._worker = worker
        self._tokenizer = Tokenizer(
            model.hf_tokenizer,
            model.model.is_multilingual,
            task="transcribe",
            language=options.language if model.model.is_multilingual else "en",
        )
        prompt: list[int] = []
        if options.prompt:
            prompt = [self._tokenizer.sot_prev, *self._tokenizer.encode(" " + options.prompt)]
        self._prompt = [*prompt, *self._tokenizer.sot_sequence]

    @staticmethod
    def load_model(model_dir: Path, options: WhisperOptions) -> WhisperModel:
        """Blocking: a second or two for the tiny model."""
        return WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type="int8",
            cpu_threads=options.threads,
            local_files_only=True,
        )

    async def transcribe(
        self, audio: npt.NDArray[np.float32], *, utterance: int, kind: Kind
    ) -> str:
        if kind == "partial" and self._worker.backlog:
            return ""  # shed: a busy engine serves finals first, partials when it can
        # What may be a final goes before partials: a final is what someone waits for.
        priority = 1 if kind == "partial" else 0
        return await self._worker.run(priority, lambda: self.transcribe_now(audio))

    def transcribe_now(self, audio: npt.NDArray[np.float32]) -> str:
        """Blocking."""
        duration = audio.size / RATE
        if duration < 0.1:
            return ""
        frames = audio.size // _HOP
        margin = round(self._options.context_margin * RATE / _HOP)
        # Whole seconds, so that the encoder sees few distinct shapes.
        context = min(_MAX_FRAMES, math.ceil((frames + margin) / 100) * 100)
        audio = audio[: _MAX_FRAMES * _HOP]
        features = self._model.feature_extractor(audio, padding=context * _HOP - audio.size + _HOP)
        features = np.ascontiguousarray(features[None, :, :context])
        encoded = self._model.model.encode(ctranslate2.StorageView.from_array(features))
        result = self._model.model.generate(
            encoded,
            [self._prompt],
            beam_size=1,
            max_length=min(448, len(self._prompt) + 16 + round(10 * duration)),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
            max_initial_timestamp_index=50,
        )[0]
        tokens: list[int] = result.sequences_ids[0]
        if result.no_speech_prob > self._options.no_speech_threshold:
            average = result.scores[0] * len(tokens) / (len(tokens) + 1)
            if average < self._options.log_prob_threshold:
                return ""
        return self._text(tokens, duration)

    def _text(self, tokens: list[int], duration: float) -> str:
        """The segments that lie within the audio, until the first repetition."""
        first_timestamp = self._tokenizer.timestamp_begin
        segments: list[tuple[float | None, list[int]]] = []
        start: float | None = None
        words: list[int] = []
        for token in tokens:
            if token < first_timestamp:
                words.append(token)
            elif words:  # the closing timestamp of a segment
                segments.append((start, words))
                start, words = None, []
            else:
                start = (token - first_timestamp) * _SECONDS_PER_TIMESTAMP
        if words:
            segments.append((start, words))
        kept: list[str] = []
        for start, segment in segments:
            text = self._tokenizer.decode(segment).strip()
            if kept and start is not None and start >= duration - 0.1:
                break
            if kept and repeats(text, kept[-1]):
                break
            if text:
                kept.append(text)
        return without_runaway(" ".join(kept))


class WhisperSpeechToText:
    """A `SpeechToText`: Silero VAD finds the utterances, Whisper transcribes them.

    Inference runs on threads of its own (CTranslate2 and onnxruntime release the GIL),
    never on the event loop: one for the detectors of all streams, one for Whisper, where
    transcriptions queue, finals before partials (`threads`: cores per transcription).
    """

    def __init__(
        self,
        model: WhisperModel,
        vad: SileroModel,
        options: WhisperOptions | None = None,
        settings: StreamSettings | None = None,
        *,
        worker: PriorityWorker | None = None,
    ) -> None:
        self._options = options or WhisperOptions()
        self._settings = settings or StreamSettings()
        self._vad = vad
        self._vad_executor = ThreadPoolExecutor(
            1,
            thread_name_prefix="tandem-vad",
            initializer=lower_thread_priority,
            initargs=(self._options.nice,),
        )
        self._worker = worker or PriorityWorker("tandem-whisper", nice=self._options.nice)
        self.transcriber = WhisperTranscriber(model, self._options, self._worker)

    @classmethod
    def load(
        cls,
        model_dir: Path,
        options: WhisperOptions | None = None,
        settings: StreamSettings | None = None,
    ) -> WhisperSpeechToText:
        """Blocking (model loading and a warm-up transcription): call it at start-up."""
        options = options or WhisperOptions()
        # Loaded and warmed up on the worker's own (lower priority) thread: the threads
        # CTranslate2 starts for it inherit that priority.
        worker = PriorityWorker("tandem-whisper", nice=options.nice)
        try:
            model = worker.submit(0, lambda: WhisperTranscriber.load_model(model_dir, options))
            stt = cls(model.result(), SileroModel.load(), options, settings, worker=worker)
            # The first inference allocates CTranslate2's buffers; not charged to a caller.
            silence = np.zeros(RATE, np.float32)
            worker.submit(0, lambda: stt.transcriber.transcribe_now(silence)).result()
        except BaseException:
            worker.shutdown()
            raise
        return stt

    def open_stream(self, speaker: str) -> TranscribingStream:
        detector = SileroDetector(self._vad, self._vad_executor)
        return TranscribingStream(speaker, detector, self.transcriber, self._settings)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._vad_executor.shutdown, wait=True, cancel_futures=True)
        await asyncio.to_thread(self._worker.shutdown)
