"""Understanding benchmark: intent accuracy, calibration, slot F1 and per-utterance latency.

In one run, against a baseline measured the same way:

* intents: stratified 5-fold cross-validation on BANKING77's train.csv (the model of
  each fold never sees its held-out fold, and calibrates its temperature on its own
  training part): accuracy, macro-F1, expected calibration error (15 bins), and how many
  queries clear `CLARIFY_BELOW` and how often those are right. Baselines: the majority
  class, and a plain word TF-IDF + logistic regression served through scikit-learn;
* slots: micro P/R/F1 on the NLU++ banking folds, by span text and by normalised value;
  folds 0-9 were used to write the rules, 10-14 were not (the honest figure);
* latency: `Understanding.understand` on single utterances, one thread pinned to one
  core, after warm-up; the baseline pipeline's `predict_proba` on the same texts.

The goals the project states: accuracy >= 0.92, p99 <= 10 ms, slot F1 >= 0.80; the
script reports whether they are met (the exit code is 0 unless the run failed). Writes
`loadtests/results/understanding.json` (git-ignored).

    .venv/bin/python loadtests/bench_understanding.py          # full: ~4 minutes on 2 cores
    .venv/bin/python loadtests/bench_understanding.py --quick  # one fold, 300 samples: ~2 min
"""

from __future__ import annotations

import os

# One thread per process for every numeric library, before any of them is imported:
# the latency figure is "one utterance on one core".
for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib import metadata  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from handoff.understanding import (  # noqa: E402
    CLARIFY_BELOW,
    IntentModel,
    ModelCache,
    Understanding,
    build_intent_model,
    intent_model_key,
)
from handoff.understanding.calibration import expected_calibration_error  # noqa: E402
from handoff.understanding.config import DEFAULT_CONFIG  # noqa: E402
from handoff.understanding.datasets import (  # noqa: E402
    LabelledText,
    load_banking77,
    load_intents,
    load_nlupp,
)
from handoff.understanding.encoder import find_encoder, load_encoder  # noqa: E402
from handoff.understanding.evaluation import NLUPP_NOW, score_slots  # noqa: E402
from handoff.understanding.intents import build_refiner  # noqa: E402
from handoff.understanding.model import softmax  # noqa: E402
from handoff.understanding.slots import SlotExtractor  # noqa: E402
from handoff.understanding.training import cross_validate  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "understanding.json"
GOAL_ACCURACY, GOAL_P99_MS, GOAL_SLOT_F1 = 0.92, 10.0, 0.80
FOLDS = 5


def macro_f1(truth: np.ndarray[Any, Any], predicted: np.ndarray[Any, Any], classes: int) -> float:
    scores = []
    for c in range(classes):
        tp = int(np.sum((predicted == c) & (truth == c)))
        fp = int(np.sum((predicted == c) & (truth != c)))
        fn = int(np.sum((predicted != c) & (truth == c)))
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(scores))


def intent_cv(
    rows: Sequence[LabelledText],
    labels: Sequence[str],
    quick: bool,
    vectors: np.ndarray[Any, Any] | None,
) -> dict[str, Any]:
    began = time.perf_counter()
    held = cross_validate(
        rows, labels, DEFAULT_CONFIG, folds=FOLDS, only=0 if quick else None, vectors=vectors
    )
    probabilities = held.probabilities
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    correct = predicted == held.truth
    clears = confidence >= CLARIFY_BELOW
    ngram_correct = held.scores.argmax(axis=1) == held.truth
    return {
        "rows_evaluated": len(predicted),
        "accuracy": round(float(correct.mean()), 4),
        "ngram_model_alone_accuracy": round(float(ngram_correct.mean()), 4),
        "sentence_encoder": vectors is not None,
        "refine_below": DEFAULT_CONFIG.refine_below,
        "share_refined": round(float(held.refined.mean()), 4),
        "macro_f1": round(macro_f1(held.truth, predicted, len(labels)), 4),
        "ece": round(expected_calibration_error(confidence, correct), 4),
        "ngram_model_ece_uncalibrated_softmax": round(
            expected_calibration_error(softmax(held.scores, 1.0).max(axis=1), ngram_correct), 4
        ),
        "temperatures": [round(t, 4) for t in held.temperatures],
        "clarify_below": CLARIFY_BELOW,
        "share_clearing_threshold": round(float(clears.mean()), 4),
        "accuracy_when_clearing": round(float(correct[clears].mean()), 4),
        "accuracy_below_threshold": round(float(correct[~clears].mean()), 4)
        if (~clears).any()
        else None,
        "accuracy_top4": round(
            float(
                np.mean(
                    [
                        t in np.argsort(-p)[:4]
                        for p, t in zip(probabilities, held.truth, strict=True)
                    ]
                )
            ),
            4,
        ),
        "seconds": round(time.perf_counter() - began, 1),
    }


def baseline_pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]

    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        LogisticRegression(C=10.0, max_iter=1000),
    )


def baseline_cv(rows: Sequence[LabelledText], quick: bool) -> dict[str, Any]:
    from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]
    from sklearn.utils.parallel import Parallel, delayed  # type: ignore[import-untyped]

    texts = np.asarray([r.text for r in rows], dtype=object)
    truth = np.asarray([r.intent for r in rows])
    splits = list(
        StratifiedKFold(FOLDS, shuffle=True, random_state=DEFAULT_CONFIG.seed).split(texts, truth)
    )
    if quick:
        splits = splits[:1]

    def fold(train: Any, test: Any) -> tuple[Any, Any]:
        model = baseline_pipeline().fit(texts[train], truth[train])
        return model.predict(texts[test]), model.predict_proba(texts[test]).max(axis=1)

    began = time.perf_counter()
    parts = Parallel(n_jobs=DEFAULT_CONFIG.jobs)(delayed(fold)(tr, te) for tr, te in splits)
    predicted = np.concatenate([p for p, _ in parts])
    confidence = np.concatenate([c for _, c in parts])
    expected = np.concatenate([truth[te] for _, te in splits])
    labels = sorted(set(truth.tolist()))
    index = {label: i for i, label in enumerate(labels)}
    as_int = np.asarray([index[x] for x in expected])
    predicted_int = np.asarray([index[x] for x in predicted])
    majority = max(set(truth.tolist()), key=truth.tolist().count)
    return {
        "name": "word 1-2-gram TF-IDF + logistic regression (C=10), served by scikit-learn",
        "accuracy": round(float(np.mean(predicted == expected)), 4),
        "macro_f1": round(macro_f1(as_int, predicted_int, len(labels)), 4),
        "ece": round(expected_calibration_error(confidence, predicted == expected), 4),
        "majority_class_accuracy": round(float(np.mean(expected == majority)), 4),
        "seconds": round(time.perf_counter() - began, 1),
    }


def slot_scores(extractor: SlotExtractor) -> dict[str, Any]:
    report: dict[str, Any] = {"reference_now": NLUPP_NOW.isoformat()}
    for name, folds in (("tuned_folds_0_9", range(10)), ("held_out_folds_10_14", range(10, 15))):
        examples = load_nlupp(folds)
        entry: dict[str, Any] = {"utterances": len(examples)}
        for mode in ("span", "value"):
            scores = score_slots(examples, mode=mode, extractor=extractor)
            entry[mode] = {
                "targeted": scores.targeted.as_dict(),
                "all_nlupp_slots": scores.all_slots.as_dict(),
                "per_slot": {k: v.as_dict() for k, v in scores.per_slot.items()},
            }
        report[name] = entry
    return report


def percentiles(samples_ms: Sequence[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p90_ms": round(float(np.percentile(values, 90)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "max_ms": round(float(values.max()), 3),
        "samples": len(values),
    }


def timed(call: Callable[[str], object], texts: Sequence[str], warmup: int) -> list[float]:
    return timed_both(call, texts, warmup)[0]


def timed_both(
    call: Callable[[str], object], texts: Sequence[str], warmup: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and this thread's CPU milliseconds per call. On a machine that other
    work shares, wall time includes waiting for the core; CPU time is what the call
    would take on a core of its own (ONNX Runtime runs on the calling thread here)."""
    for text in texts[:warmup]:
        call(text)
    wall, cpu = [], []
    for text in texts:
        began, began_cpu = time.perf_counter(), time.thread_time()
        call(text)
        wall.append((time.perf_counter() - began) * 1000.0)
        cpu.append((time.thread_time() - began_cpu) * 1000.0)
    return wall, cpu


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        core = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        return f"pinned to core {core}"
    return "not pinned (no sched_setaffinity here)"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one CV fold, fewer latency samples")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON path (default {RESULTS})")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="model cache to use (default: a fresh temporary one, so the build is timed)",
    )
    parser.add_argument("--samples", type=int, default=None, help="utterances timed (2000)")
    args = parser.parse_args(argv)
    samples = args.samples or (300 if args.quick else 2000)

    rows, labels = load_banking77(), load_intents()
    print(f"BANKING77: {len(rows)} rows, {len(labels)} intents; NLU++: {len(load_nlupp())}")

    with tempfile.TemporaryDirectory(prefix="tandem-understanding-") as scratch:
        cache = ModelCache(args.cache_dir or Path(scratch))
        source, encoder_off = find_encoder()
        vectors = None
        encoder_seconds = 0.0
        if source is None:
            print(f"sentence encoder off ({encoder_off}): n-gram model alone")
        else:
            print("sentence encoder: building its ONNX model and encoding every row ...")
            began = time.perf_counter()
            encoder = load_encoder(source, cache, max_tokens=DEFAULT_CONFIG.encoder_tokens)
            encoder_seconds = time.perf_counter() - began
            vectors = encoder.encode_many([row.text for row in rows], workers=DEFAULT_CONFIG.jobs)

        print(f"intents: stratified {FOLDS}-fold CV{' (fold 0 only)' if args.quick else ''} ...")
        intents = intent_cv(rows, labels, args.quick, vectors)
        baseline = baseline_cv(rows, args.quick)

        print("slots: NLU++ folds ...")
        extractor = SlotExtractor.bundled()
        slots = slot_scores(extractor)

        began = time.perf_counter()
        model = build_intent_model(cache)
        refiner, _ = build_refiner(cache)
        build_seconds = time.perf_counter() - began
        paths = [cache.path(intent_model_key())]
        if source is not None:
            paths.append(cache.path(intent_model_key(encoder=source)))
        began = time.perf_counter()
        for path in paths:
            IntentModel.load(path)
        load_seconds = time.perf_counter() - began
        model_bytes = sum(path.stat().st_size for path in paths)

        understanding = Understanding(model, refiner=refiner, slots=extractor)
    reference = baseline_pipeline().fit([r.text for r in rows], [r.intent for r in rows])
    pinning = pin_to_one_core()
    rng = random.Random(0)
    pool = [r.text for r in rows] + [e.text for e in load_nlupp()]
    texts = [rng.choice(pool) for _ in range(samples)]
    warmup = min(100, samples)
    refined: list[bool] = []

    def understand(text: str) -> None:
        refined.append(understanding.understand(text, today=NLUPP_NOW).refined)

    our_samples, our_cpu = timed_both(understand, texts, warmup)
    ours = percentiles(our_samples)
    ours["cpu"] = percentiles(our_cpu)
    flags = refined[warmup:]
    ours["share_refined"] = round(sum(flags) / len(flags), 4)
    ours["refined_only"] = (
        percentiles([ms for ms, r in zip(our_samples, flags, strict=True) if r])
        if any(flags)
        else None
    )
    slots_only = percentiles(timed(lambda t: extractor.extract(t, today=NLUPP_NOW), texts, warmup))
    base = percentiles(timed(lambda t: reference.predict_proba([t]), texts, warmup))

    held_out_f1 = slots["held_out_folds_10_14"]["span"]["targeted"]["f1"]
    rows_out = [
        ("", "Tandem", "baseline"),
        ("intent accuracy (CV)", f"{intents['accuracy']:.4f}", f"{baseline['accuracy']:.4f}"),
        ("intent macro-F1 (CV)", f"{intents['macro_f1']:.4f}", f"{baseline['macro_f1']:.4f}"),
        ("ECE (15 bins)", f"{intents['ece']:.4f}", f"{baseline['ece']:.4f}"),
        ("majority-class accuracy", "", f"{baseline['majority_class_accuracy']:.4f}"),
        ("latency p50 (ms)", f"{ours['p50_ms']:.3f}", f"{base['p50_ms']:.3f}"),
        ("latency p99 (ms)", f"{ours['p99_ms']:.3f}", f"{base['p99_ms']:.3f}"),
        ("latency max (ms)", f"{ours['max_ms']:.3f}", f"{base['max_ms']:.3f}"),
        ("CPU p50 / p99 (ms)", f"{ours['cpu']['p50_ms']:.2f}/{ours['cpu']['p99_ms']:.2f}", ""),
    ]
    print()
    for label, a, b in rows_out:
        print(f"{label:<26}{a:>12}{b:>12}")
    print("(Tandem latency is intent + slots; the baseline's is intent only)")
    print(
        f"n-gram model alone: accuracy {intents['ngram_model_alone_accuracy']:.4f}; the "
        f"sentence encoder decided {intents['share_refined']:.1%} of CV rows and "
        f"{ours['share_refined']:.1%} of timed ones"
        + (
            f" (those: p50 {ours['refined_only']['p50_ms']:.3f} ms, p99 "
            f"{ours['refined_only']['p99_ms']:.3f} ms)"
            if ours["refined_only"]
            else ""
        )
    )
    print(f"slots alone: p50 {slots_only['p50_ms']:.3f} ms, p99 {slots_only['p99_ms']:.3f} ms")
    print(
        f"clarify below {CLARIFY_BELOW}: {intents['share_clearing_threshold']:.1%} of queries "
        f"clear it, {intents['accuracy_when_clearing']:.1%} of those right; right intent in "
        f"top 4: {intents['accuracy_top4']:.1%}"
    )
    for name in ("tuned_folds_0_9", "held_out_folds_10_14"):
        entry = slots[name]
        print(
            f"slot F1 {name}: span {entry['span']['targeted']['f1']:.4f}, "
            f"value {entry['value']['targeted']['f1']:.4f} "
            f"(all NLU++ slots, span: {entry['span']['all_nlupp_slots']['f1']:.4f})"
        )
    per_slot = slots["held_out_folds_10_14"]["span"]["per_slot"]
    print(
        "  held-out span F1 per slot: "
        + ", ".join(
            f"{k} {v['f1']:.2f} (n={v['support']})" for k, v in per_slot.items() if v["support"]
        )
    )
    print(
        f"sentence encoder's ONNX model built in {encoder_seconds:.1f} s; "
        f"models: built in {build_seconds:.1f} s "
        f"(training {model.metadata['training_seconds']} s), "
        f"{model_bytes / 1e6:.1f} MB on disk, loads in {load_seconds * 1000:.0f} ms; {pinning}"
    )
    goals = {
        "accuracy": intents["accuracy"] >= GOAL_ACCURACY,
        "p99": ours["p99_ms"] <= GOAL_P99_MS,
        "slot_f1_held_out": held_out_f1 >= GOAL_SLOT_F1,
    }
    print(
        f"goals: accuracy >= {GOAL_ACCURACY}: {'met' if goals['accuracy'] else 'NOT met'}; "
        f"p99 <= {GOAL_P99_MS} ms: {'met' if goals['p99'] else 'NOT met'}; "
        f"held-out slot F1 >= {GOAL_SLOT_F1}: {'met' if goals['slot_f1_held_out'] else 'NOT met'}"
    )

    report = {
        "benchmark": "bench_understanding",
        "at": datetime.now(UTC).isoformat(),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "numpy": _version("numpy"),
            "scikit_learn": _version("scikit-learn"),
            "latency": pinning,
        },
        "config": {
            "quick": args.quick,
            "folds": FOLDS,
            "latency_samples": samples,
            "training": DEFAULT_CONFIG.key_parts(),
            "jobs": DEFAULT_CONFIG.jobs,
        },
        "intents": intents,
        "baseline": {**baseline, "latency": base},
        "slots": slots,
        "latency": {"understand": ours, "slots_only": slots_only},
        "model": {
            "build_seconds": round(build_seconds, 1),
            "training_seconds": model.metadata["training_seconds"],
            "file_bytes": model_bytes,
            "load_ms": round(load_seconds * 1000, 1),
            "temperature": round(model.temperature, 4),
        },
        "goals": {
            "accuracy": GOAL_ACCURACY,
            "p99_ms": GOAL_P99_MS,
            "slot_f1": GOAL_SLOT_F1,
            "met": goals,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
