"""Durable benchmark: the chat relay on the embedded memory store against PostgreSQL +
Redis, in the same run with the same clients (`bench_relay`'s), printed as a ratio.

Two phases, each on both configurations, the runs interleaved (memory, durable, durable,
memory, ...: a neighbour's burst or a slow drift on a shared machine hits both alike) and
repeated `--repeats` times, each durable run on a schema and Redis prefix of its own:

* saturated: every pair sends its next round trip as soon as the last one arrived, so
  the servers run flat out: the throughput figures and the CPU per message;
* paced, at each of `--paced-fractions` of the durable configuration's saturated rate
  (default 25 % and 50 %): the same offered load for both, so latency is compared under
  load rather than at overload, where a closed loop turns any throughput gap into
  queueing delay (Little's law): the p99 figures.

Figures are medians over the repeats, with their spread (min-max). The project's goal:
the durable configuration keeps >= 0.5x the in-memory throughput (the median of the
repeats' ratios) and adds <= 5 ms to the one-way p99, judged at `--judge-at` (default
50 %) of the durable saturated rate: a fixed operating point below saturation, loaded
but not overloaded, the same for both (the median of the repeats' differences). Writes
`loadtests/results/bench_durable.json`.

    .venv/bin/python loadtests/bench_durable.py
    .venv/bin/python loadtests/bench_durable.py --repeats 5 --paced-fractions 0.25,0.5,0.75
    .venv/bin/python loadtests/bench_durable.py --repeats 1 --round-trips 50 --paced-seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_relay  # noqa: E402

DATABASE_URL = os.environ.get(
    "TANDEM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
GOAL_RATIO, GOAL_P99_MS = 0.5, 5.0
CONFIGS = ("memory", "durable")


async def drop(schema: str, prefix: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL, timeout=5)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def run(config: str, cfg: bench_relay.Config, notes: list[str]) -> dict[str, Any]:
    """One server run of `config`; a durable one on a fresh schema and prefix."""
    if config == "memory":
        return bench_relay.run_target("tandem", cfg, None, notes)
    tag = f"tandem_bench_{uuid.uuid4().hex[:10]}"
    env = {
        **cfg.tandem_env,
        "TANDEM_DATABASE_URL": DATABASE_URL,
        "TANDEM_DATABASE_SCHEMA": tag,
        "TANDEM_MIGRATE_ON_START": "true",
        "TANDEM_REDIS_URL": REDIS_URL,
        "TANDEM_REDIS_PREFIX": f"{tag}:",
    }
    try:
        return bench_relay.run_target("tandem", replace(cfg, tandem_env=env), None, notes)
    finally:
        asyncio.run(drop(tag, f"{tag}:"))


def interleaved(
    repeats: int, cfg: bench_relay.Config, notes: list[str], label: str
) -> list[dict[str, dict[str, Any]]]:
    """`repeats` pairs of runs, memory and durable, the order alternating."""
    pairs: list[dict[str, dict[str, Any]]] = []
    for r in range(repeats):
        order = CONFIGS if r % 2 == 0 else CONFIGS[::-1]
        pair: dict[str, dict[str, Any]] = {}
        for config in order:
            print(f"\n== {label}, repeat {r + 1}/{repeats}: {config}", flush=True)
            pair[config] = run(config, cfg, notes)
        pairs.append(pair)
    return pairs


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summary(
    pairs: list[dict[str, dict[str, Any]]], pick: Callable[[dict[str, Any]], float | None]
) -> dict[str, dict[str, float]] | None:
    """Median and spread of one figure per configuration (None where it is unknown)."""
    out: dict[str, dict[str, float]] = {}
    for config in CONFIGS:
        values = [v for pair in pairs if (v := pick(pair[config])) is not None]
        if not values:
            return None
        out[config] = spread(values)
    return out


def figure(*path: str) -> Callable[[dict[str, Any]], float | None]:
    """What `summary` picks from a run: the value at `path`, None if it has none."""

    def pick(run: dict[str, Any]) -> float | None:
        value: Any = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return None if value is None else float(value)

    return pick


def cell(s: dict[str, float], fmt: str) -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}..{fmt.format(s['max'])})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--round-trips", type=int, default=200, help="per pair, per round")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per saturated run")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per config")
    parser.add_argument(
        "--paced-fractions",
        default="0.25,0.5",
        help="offered loads of the paced phase, as fractions of the durable saturated rate",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        action="append",
        default=[],
        help="an offered load in messages/s instead of the fractions (repeatable)",
    )
    parser.add_argument(
        "--judge-at",
        type=float,
        default=0.5,
        help="the fraction (or, with --paced-rate, the rate) the p99 goal is judged at",
    )
    parser.add_argument("--paced-seconds", type=float, default=15.0, help="length of a paced run")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_durable.json")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        raise SystemExit("--repeats must be >= 1")
    base = bench_relay.make_config(
        bench_relay.parse_args(
            [
                "--pairs", str(args.pairs),
                "--round-trips", str(args.round_trips),
                "--rounds", str(args.rounds),
            ]
        )
    )  # fmt: skip
    notes: list[str] = []

    saturated = interleaved(args.repeats, base, notes, "saturated")
    rates = summary(saturated, figure("messages_per_second"))
    assert rates is not None
    ratios = spread(
        [
            p["durable"]["messages_per_second"] / p["memory"]["messages_per_second"]
            for p in saturated
        ]
    )
    durable_rate = rates["durable"]["median"]
    # (label, offered messages/s, what --judge-at names it by)
    loads: list[tuple[str, float, float]] = (
        [(f"{rate:.0f}/s", rate, rate) for rate in args.paced_rate]
        if args.paced_rate
        else [
            (f"{100 * f:.0f}% ({f * durable_rate:.0f}/s)", f * durable_rate, f)
            for f in (float(x) for x in args.paced_fractions.split(","))
        ]
    )
    judged_label = next((label for label, _, key in loads if abs(key - args.judge_at) < 1e-9), None)

    paced: dict[str, list[dict[str, dict[str, Any]]]] = {}
    for label, rate, _ in loads:
        # Two messages per round trip; each run lasts about --paced-seconds.
        interval = 2 * args.pairs / rate
        round_trips = max(20, round(args.paced_seconds / interval))
        cfg = replace(base, interval=interval, round_trips=round_trips, rounds=1, warmup=10)
        paced[label] = interleaved(args.repeats, cfg, notes, f"paced at {label}")

    def row(label: str, s: dict[str, dict[str, float]], fmt: str, diff: str = "") -> None:
        print(f"{label:42}{cell(s['memory'], fmt):>22}{cell(s['durable'], fmt):>22}{diff:>26}")

    print(f"\nmedian (min..max) of {args.repeats} interleaved runs per configuration")
    print(f"{'':42}{'memory':>22}{'PG+Redis':>22}{'durable vs memory':>26}")
    row("saturated messages/s", rates, "{:.0f}", cell(ratios, "{:.2f}") + "x")
    for label, key in (
        ("saturated server CPU per message (us)", "server_cpu_us_per_message"),
        ("saturated PG+Redis CPU per message (us)", "services_cpu_us_per_message"),
        ("saturated other processes' CPU (%)", "other_cpu_percent"),
    ):
        if (s := summary(saturated, figure(key))) is not None:
            row(label, s, "{:.0f}")
    if (s := summary(saturated, figure("one_way_ms", "p99"))) is not None:
        row("saturated one-way p99 (ms)", s, "{:.1f}")
    added: dict[str, dict[str, float]] = {}
    for label, _, _ in loads:
        runs = paced[label]
        for q in ("p50", "p99"):
            s = summary(runs, figure("one_way_ms", q))
            diff = spread(
                [p["durable"]["one_way_ms"][q] - p["memory"]["one_way_ms"][q] for p in runs]
            )
            if q == "p99":
                added[label] = diff
            if s is not None:
                row(f"paced {label} {q} (ms)", s, "{:.1f}", cell(diff, "{:+.1f}") + " ms")
    print(
        f"\ngoal: throughput >= {GOAL_RATIO}x: "
        f"{'MET' if ratios['median'] >= GOAL_RATIO else 'NOT MET'} ({ratios['median']:.2f}x)"
    )
    if judged_label is not None:
        d = added[judged_label]["median"]
        print(
            f"goal: p99 added <= {GOAL_P99_MS} ms, judged paced at {judged_label}: "
            f"{'MET' if d <= GOAL_P99_MS else 'NOT MET'} ({d:+.2f} ms)"
        )
    busy = [
        r["other_cpu_percent"]
        for pair in saturated + [p for runs in paced.values() for p in runs]
        for run_ in pair.values()
        for r in run_["per_round"]
        if r["other_cpu_percent"] is not None
    ]
    if busy and max(busy) > bench_relay.OTHER_CPU_WARN_PERCENT:
        notes.append(
            f"other processes used {statistics.median(busy):.0f}% of a core in the median "
            f"round (up to {max(busy):.0f}%): the machine was not quiet, figures are noisy"
        )
    for note in notes:
        print(f"note: {note}")

    report = {
        "benchmark": "bench_durable",
        "at": datetime.now(UTC).isoformat(),
        "config": {
            "pairs": args.pairs,
            "round_trips": args.round_trips,
            "rounds": args.rounds,
            "repeats": args.repeats,
            "paced_loads": {label: rate for label, rate, _ in loads},
            "judged_at": judged_label,
        },
        "saturated": saturated,
        "paced": paced,
        "comparison": {
            "throughput_ratio": ratios,
            "messages_per_second": rates,
            "one_way_p99_added_ms": added,
        },
        "notes": notes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
