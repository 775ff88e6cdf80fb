"""The pure parts of media/speech: endpoints, text pieces, phoneme ids, WAV, settings."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
from pathlib import Path

import av
import numpy as np
import pytest

from media.speech import factory
from media.speech.config import SpeechConfig
from media.speech.endpoint import Endpointer, EndpointSettings
from media.speech.espeak_program import EspeakError, parse_wav
from media.speech.pcm import ChunkCutter, Resampler, chunk_from_frame
from media.speech.phonemes import phoneme_ids
from media.speech.ports import FRAME_SAMPLES, AudioChunk
from media.speech.priority_worker import PriorityWorker
from media.speech.repetition import repeats, without_runaway
from media.speech.text import Clause, plan_pieces, split_clauses

WINDOW = 160  # 10 ms at 16 kHz


def run(endpointer: Endpointer, probabilities: list[float]) -> list[tuple[str, float, float]]:
    events = (endpointer.feed(p) for p in probabilities)
    return [(e.kind, e.start / 16_000, e.end / 16_000) for e in events if e is not None]


def endpointer(**settings: float) -> Endpointer:
    return Endpointer(EndpointSettings(**settings), rate=16_000, window=WINDOW)


def test_an_utterance_starts_settles_and_ends() -> None:
    events = run(endpointer(), [0.0] * 10 + [0.9] * 50 + [0.0] * 50)
    assert events == [
        ("started", 0.1, 0.11),
        ("settled", 0.1, 0.6),
        ("ended", 0.1, 0.6),
    ]


def test_soft_syllables_do_not_split_a_word_but_a_pause_is_a_pause() -> None:
    # 0.4 keeps speech going once it has started (release 0.35), but does not start it.
    assert run(endpointer(), [0.9] * 30 + [0.4] * 30 + [0.0] * 45)[-1] == ("ended", 0.0, 0.6)
    assert run(endpointer(), [0.4] * 30) == []


def test_speech_after_a_settled_pause_continues_the_utterance() -> None:
    events = run(endpointer(), [0.9] * 30 + [0.0] * 20 + [0.9] * 30 + [0.0] * 45)
    assert [e[0] for e in events] == ["started", "settled", "settled", "ended"]
    assert events[-1] == ("ended", 0.0, 0.8)


def test_short_bursts_are_discarded() -> None:
    events = run(endpointer(min_speech=0.2), [0.9] * 5 + [0.0] * 45)
    assert events[-1] == ("discarded", 0.0, 0.05)


def test_a_monologue_is_cut_at_max_utterance() -> None:
    events = run(endpointer(max_utterance=1.0), [0.9] * 250)
    assert [e for e in events if e[0] == "ended"] == [("ended", 0.0, 1.0), ("ended", 1.0, 2.0)]


def test_finish_ends_the_utterance_in_progress() -> None:
    e = endpointer()
    run(e, [0.9] * 30)
    end = e.finish()
    assert end is not None and (end.kind, end.end) == ("ended", 30 * WINDOW)
    assert e.finish() is None


def test_endpoint_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="release"):
        EndpointSettings(threshold=0.3, release=0.5)
    with pytest.raises(ValueError, match="settle"):
        EndpointSettings(settle_silence=0.5, end_silence=0.4)


def test_clauses_keep_their_punctuation() -> None:
    assert split_clauses("Hello there, how are you?") == [
        Clause("Hello there", ","),
        Clause("how are you", "?"),
    ]
    assert split_clauses("  ...  ") == []


def test_the_first_piece_is_short_and_the_rest_are_sentences() -> None:
    text = "Thank you for calling. The fee is five pounds, and it arrives in two days. Bye!"
    pieces = [[c.text + c.punctuation for c in piece] for piece in plan_pieces(text)]
    assert pieces == [
        ["Thank you for calling."],
        ["The fee is five pounds,", "and it arrives in two days."],
        ["Bye!"],
    ]


def test_a_long_first_sentence_is_cut_at_a_clause_or_after_first_words() -> None:
    by_clause = plan_pieces("Sure, I can freeze your card right now.", first_words=4)
    assert [[c.text for c in p] for p in by_clause] == [
        ["Sure"],
        ["I can freeze your card right now"],
    ]
    long = plan_pieces("what are the fees for an international transfer", first_words=4)
    assert [[c.text for c in p] for p in long] == [
        ["what are the fees"],
        ["for an international transfer"],
    ]
    assert plan_pieces("i want to freeze my card", first_words=4) == [
        [Clause("i want to freeze my card", "")]
    ]
    assert len(plan_pieces("what are the fees for an international transfer", first_words=0)) == 1


def test_phonemes_become_piper_ids_with_pad_between_and_bos_eos_around() -> None:
    id_map = {"_": [0], "^": [1], "$": [2], " ": [3], "a": [14], "ɪ": [74], "ˈ": [120]}
    assert phoneme_ids("ˈa ɪ", id_map) == [1, 0, 120, 0, 14, 0, 3, 0, 74, 0, 2]
    # Unknown symbols are left out; composed characters are decomposed first.
    assert phoneme_ids("aé", {**id_map, "e": [18], "\u0301": [200]}) == [
        1,
        0,
        14,
        0,
        18,
        0,
        200,
        0,
        2,
    ]


def test_a_decoding_loop_is_cut_where_it_starts() -> None:
    loop = "I lost my card. I lost my card. I lost my card. I lost"
    assert without_runaway(loop) == "I lost my card."
    assert without_runaway("Hello. What is my balance? What is my balance? What is") == (
        "Hello. What is my balance?"
    )
    # Cut short by max_length in the middle of the second time round.
    assert without_runaway("I want to talk to a person. I want to talk to a") == (
        "I want to talk to a person."
    )
    speech = "I want to, I want to cancel my card"
    assert without_runaway(speech) == speech
    assert without_runaway("no no no") == "no no no"
    assert repeats("I want to talk", "I want to talk to a person.")
    assert not repeats("freeze it", "I want to talk to a person.")
    assert not repeats("", "anything")


def wav(samples: np.ndarray, rate: int, *, channels: int = 1, data_size: int = 0xFFFFFFFF) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * 2 * channels, 2 * channels, 16)
    return (
        b"RIFF\xff\xff\xff\xffWAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_size)
        + samples.astype("<i2").tobytes()
    )


def test_wav_from_a_pipe_is_read_whatever_its_data_size_says() -> None:
    samples = np.arange(-50, 50, dtype=np.int16)
    parsed = parse_wav(wav(samples, 22_050))
    assert parsed.sample_rate == 22_050 and np.array_equal(parsed.samples, samples)
    stereo = parse_wav(wav(np.repeat(samples, 2), 8000, channels=2))
    assert np.array_equal(stereo.samples, samples)
    with pytest.raises(EspeakError):
        parse_wav(b"not a wav")


def test_resampling_keeps_the_duration_and_the_cutter_makes_20_ms_chunks() -> None:
    resampler = Resampler(22_050, 48_000, "s16")
    tone = (np.sin(np.arange(22_050) / 5) * 0.5).astype(np.float32)
    out = np.concatenate([resampler.convert(tone[:10_000]), resampler.convert(tone[10_000:])])
    out = np.concatenate([out, resampler.flush()])
    assert out.dtype == np.int16 and abs(out.size - 48_000) <= 2
    cutter = ChunkCutter()
    chunks = cutter.cut(out[:2000]) + cutter.cut(out[2000:]) + cutter.flush()
    assert all(c.samples == FRAME_SAMPLES for c in chunks)
    assert len(chunks) == -(-out.size // FRAME_SAMPLES)


def test_a_decoded_stereo_frame_becomes_a_mono_chunk() -> None:
    stereo = np.array([[100, 300, -100, -300]], np.int16)  # L R L R
    frame = av.AudioFrame.from_ndarray(stereo, format="s16", layout="stereo")
    frame.sample_rate = 48_000
    chunk = chunk_from_frame(frame)
    assert chunk == AudioChunk(np.array([200, -200], np.int16).tobytes(), 48_000)
    with pytest.raises(ValueError, match="even"):
        AudioChunk(b"\x00")


def test_config_from_the_environment() -> None:
    config = SpeechConfig.from_env(
        {
            "TANDEM_STT_ENGINE": "OFF",
            "TANDEM_STT_MODEL_DIR": "/models/whisper",
            "TANDEM_TTS_ENGINE": "espeak",
            "TANDEM_TTS_VOICE": "",
            "TANDEM_TTS_THREADS": "3",
        }
    )
    assert config.stt_engine == "off" and config.tts_engine == "espeak"
    assert config.stt_model_dir == Path("/models/whisper") and config.tts_voice is None
    assert config.tts_threads == 3
    assert SpeechConfig.from_env({}) == SpeechConfig()
    with pytest.raises(ValueError, match="tts_engine"):
        SpeechConfig.from_env({"TANDEM_TTS_ENGINE": "festival"})


def test_speech_turned_off_says_so() -> None:
    speech = factory.build_speech(SpeechConfig(stt_engine="off", tts_engine="off"))
    assert speech.stt is None and speech.tts is None
    assert all("OFF, as configured" in line for line in speech.status)


def test_without_the_extra_speech_is_off_with_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(factory, "_missing", lambda *modules: list(modules))
    monkeypatch.setattr(factory.shutil, "which", lambda _: None)
    stt, stt_line = factory.build_stt(SpeechConfig())
    tts, tts_line = factory.build_tts(SpeechConfig())
    assert stt is None and tts is None
    assert "OFF" in stt_line and "pip install -e '.[speech]'" in stt_line
    assert "Piper voice is off" in tts_line and "espeak-ng" in tts_line


def test_a_model_directory_that_is_not_one_is_reported(tmp_path: Path) -> None:
    stt, line = factory.build_stt(SpeechConfig(stt_model_dir=tmp_path))
    if factory._missing("faster_whisper", "onnxruntime"):
        pytest.skip("the speech extra is not installed")
    assert stt is None and "not a faster-whisper model directory" in line


async def test_the_worker_runs_finals_before_partials_and_skips_cancelled_jobs() -> None:
    worker = PriorityWorker("test-worker")
    gate = threading.Event()
    ran: list[str] = []
    try:
        blocker = worker.submit(0, gate.wait)  # holds the thread while the queue fills
        partial = asyncio.ensure_future(worker.run(1, lambda: ran.append("partial")))
        dropped = asyncio.ensure_future(worker.run(1, lambda: ran.append("dropped")))
        final = asyncio.ensure_future(worker.run(0, lambda: ran.append("final")))
        await asyncio.sleep(0)
        dropped.cancel()
        # Let the cancellation reach the job before the thread is free to take it.
        with contextlib.suppress(asyncio.CancelledError):
            await dropped
        gate.set()
        await asyncio.gather(partial, final)
        assert blocker.result() is True
        assert ran == ["final", "partial"]
    finally:
        gate.set()
        worker.shutdown()
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit(0, lambda: None)
