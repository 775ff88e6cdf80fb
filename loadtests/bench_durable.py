"""Durable benchmark: the chat relay on the embedded memory store against PostgreSQL +
Redis, in the same run with the same clients (`bench_relay`'s), printed as a ratio.

Two phases, each on both configurations:
* saturated: every pair sends its next round trip as soon as the last one arrived, so
  the servers run flat out: the throughput figures;
* paced: the same offered load for both (by default half of what the durable
  configuration sustained in the saturated phase), so latency is compared under load
  rather than at overload, where a closed loop turns any throughput gap into queueing
  delay (Little's law): the p99 figures.

Each durable run uses a schema and Redis prefix of its own, dropped afterwards. The
project's goal: the durable configuration keeps >= 0.5x the in-memory throughput and
adds <= 5 ms to the one-way p99. Writes `loadtests/results/bench_durable.json`.

    .venv/bin/python loadtests/bench_durable.py
    .venv/bin/python loadtests/bench_durable.py --pairs 10 --round-trips 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import uuid
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


async def drop(schema: str, prefix: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL, timeout=5)
    await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    await conn.close()
    client = aioredis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--round-trips", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=None,
        help="messages/s offered in the paced phase (default: half the durable saturated rate)",
    )
    parser.add_argument("--output", type=Path, default=HERE / "results" / "bench_durable.json")
    args = parser.parse_args(argv)
    base = bench_relay.make_config(
        bench_relay.parse_args(
            [
                "--pairs",
                str(args.pairs),
                "--round-trips",
                str(args.round_trips),
                "--rounds",
                str(args.rounds),
            ]
        )
    )
    schema = f"tandem_bench_{uuid.uuid4().hex[:10]}"
    prefix = f"tandem_bench_{uuid.uuid4().hex[:10]}:"
    durable_env = {
        **base.tandem_env,
        "TANDEM_DATABASE_URL": DATABASE_URL,
        "TANDEM_DATABASE_SCHEMA": schema,
        "TANDEM_MIGRATE_ON_START": "true",
        "TANDEM_REDIS_URL": REDIS_URL,
        "TANDEM_REDIS_PREFIX": prefix,
    }
    notes: list[str] = []
    results: dict[str, Any] = {}
    durable_cfg = replace(base, tandem_env=durable_env)
    try:
        results["memory"] = bench_relay.run_target("tandem", base, None, notes)
        results["durable"] = bench_relay.run_target("tandem", durable_cfg, None, notes)
        rate = args.paced_rate or 0.5 * results["durable"]["messages_per_second"]
        # Two messages per round trip.
        interval = 2 * args.pairs / rate
        print(f"\npaced phase: {rate:.0f} messages/s offered to each configuration")
        results["memory_paced"] = bench_relay.run_target(
            "tandem", replace(base, interval=interval), None, notes
        )
        results["durable_paced"] = bench_relay.run_target(
            "tandem", replace(durable_cfg, interval=interval), None, notes
        )
    finally:
        asyncio.run(drop(schema, prefix))
    memory, durable = results["memory"], results["durable"]
    memory_paced, durable_paced = results["memory_paced"], results["durable_paced"]
    ratio = durable["messages_per_second"] / memory["messages_per_second"]
    p99 = durable_paced["one_way_ms"]["p99"] - memory_paced["one_way_ms"]["p99"]
    saturated_p99 = durable["one_way_ms"]["p99"] - memory["one_way_ms"]["p99"]
    print()
    print(f"{'':34}{'memory':>10}{'PG+Redis':>10}{'durable vs memory':>20}")
    print(
        f"{'saturated messages/s':34}{memory['messages_per_second']:>10.0f}"
        f"{durable['messages_per_second']:>10.0f}{ratio:>19.2f}x"
    )
    for label, (m_run, d_run) in {
        "saturated": (memory, durable),
        f"paced at {rate:.0f}/s": (memory_paced, durable_paced),
    }.items():
        for q in ("p50", "p99"):
            m, d = m_run["one_way_ms"][q], d_run["one_way_ms"][q]
            print(f"{label + ' one-way ' + q + ' (ms)':34}{m:>10.2f}{d:>10.2f}{d - m:>+17.2f} ms")
    print(
        f"\ngoal: throughput >= {GOAL_RATIO}x: {'MET' if ratio >= GOAL_RATIO else 'NOT MET'} "
        f"({ratio:.2f}x); p99 under load <= +{GOAL_P99_MS} ms: "
        f"{'MET' if p99 <= GOAL_P99_MS else 'NOT MET'} ({p99:+.2f} ms; "
        f"at saturation {saturated_p99:+.2f} ms)"
    )
    report = {
        "benchmark": "bench_durable",
        "at": datetime.now(UTC).isoformat(),
        "config": {
            "pairs": args.pairs,
            "round_trips": args.round_trips,
            "rounds": args.rounds,
            "paced_rate": rate,
        },
        "results": results,
        "comparison": {
            "throughput_ratio": ratio,
            "one_way_p99_diff_ms": p99,
            "one_way_p99_diff_ms_saturated": saturated_p99,
        },
        "notes": notes,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
