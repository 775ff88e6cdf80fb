"""Store append rate: events/s into one conversation, and into 1,000 at once.

Measures each store implementation in the same run (the embedded memory store as the
baseline, PostgreSQL on this machine), through the `SessionStore` port exactly as the
conversation service uses it: one append per message, with an idempotency key, at the
expected seq. Prints a table and writes `loadtests/results/bench_store.json`.

    .venv/bin/python loadtests/bench_store.py
    .venv/bin/python loadtests/bench_store.py --events 2000 --conversations 1000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sessions.events import NewEvent  # noqa: E402
from sessions.memory_store import MemoryStore  # noqa: E402
from sessions.postgres import PostgresStore  # noqa: E402
from sessions.store import SessionStore  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "bench_store.json"
DATABASE_URL = os.environ.get(
    "TANDEM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def started(customer: str) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [
        NewEvent(
            "conversation.started",
            f"customer:{customer}",
            now,
            {"customer_id": customer, "channel": "chat"},
        ),
        NewEvent(
            "handler.changed", "system", now, {"from": "none", "to": "bot", "reason": "start"}
        ),
    ]


def message(i: int) -> list[NewEvent]:
    return [NewEvent("message.sent", "customer:c", datetime.now(UTC), {"text": f"message {i}"})]


async def one_conversation(store: SessionStore, events: int) -> float:
    cid = f"b-{uuid.uuid4().hex}"
    await store.append(cid, 0, started("c"))
    began = time.perf_counter()
    for i in range(events):
        await store.append(cid, 2 + i, message(i), idempotency_key=f"{cid}:{i}")
    return events / (time.perf_counter() - began)


async def many_conversations(store: SessionStore, conversations: int, per: int) -> float:
    ids = [f"b-{uuid.uuid4().hex}" for _ in range(conversations)]
    await asyncio.gather(*(store.append(cid, 0, started("c")) for cid in ids))

    async def talk(cid: str) -> None:
        for i in range(per):
            await store.append(cid, 2 + i, message(i), idempotency_key=f"{cid}:{i}")

    began = time.perf_counter()
    await asyncio.gather(*(talk(cid) for cid in ids))
    return conversations * per / (time.perf_counter() - began)


async def measure(
    name: str, open_store: Callable[[], Awaitable[SessionStore]], args: argparse.Namespace
) -> dict[str, Any]:
    store = await open_store()
    try:
        single = await one_conversation(store, args.events)
        many = await many_conversations(store, args.conversations, args.per_conversation)
    finally:
        await store.close()
    print(
        f"[{name}] one conversation: {single:,.0f} events/s; "
        f"{args.conversations} conversations at once: {many:,.0f} events/s",
        flush=True,
    )
    return {"one_conversation_events_per_s": single, "concurrent_events_per_s": many}


async def main(args: argparse.Namespace) -> int:
    results: dict[str, Any] = {}

    async def memory() -> SessionStore:
        return MemoryStore()

    results["memory"] = await measure("memory", memory, args)
    schema = f"tandem_bench_{uuid.uuid4().hex[:10]}"
    try:

        async def postgres() -> SessionStore:
            return await PostgresStore.open(
                DATABASE_URL,
                schema=schema,
                migrate_on_start=True,
                max_size=args.pool,
                writers=args.writers,
            )

        results["postgres"] = await measure("postgres", postgres, args)
    except (OSError, asyncpg.PostgresError) as error:
        print(f"[postgres] not measured: {error}", file=sys.stderr)
    finally:
        try:
            conn = await asyncpg.connect(DATABASE_URL, timeout=5)
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            await conn.close()
        except (OSError, asyncpg.PostgresError):
            pass
    report = {
        "benchmark": "bench_store",
        "at": datetime.now(UTC).isoformat(),
        "config": vars(args) | {"output": str(args.output)},
        "results": results,
    }
    if "postgres" in results:
        report["ratio_postgres_over_memory"] = {
            k: results["postgres"][k] / results["memory"][k] for k in results["memory"]
        }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="appends into one conversation")
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--per-conversation", type=int, default=5)
    parser.add_argument("--pool", type=int, default=10, help="PostgreSQL pool size")
    parser.add_argument(
        "--writers", type=int, default=1, help="append batches in flight (TANDEM_DATABASE_WRITERS)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
