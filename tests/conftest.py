"""Real PostgreSQL and Redis for integration tests.

Each test gets its own PostgreSQL schema and Redis key prefix, so runs never disturb
each other. A test that starts servers on them lists `pg_schema` / `redis_prefix` (and
any fault proxy) *before* `server_factory`: fixtures are torn down in reverse, so the
servers stop before their schema is dropped and their keys deleted.

A server that cannot be reached skips the tests with a loud reason locally, and fails
them under CI=true: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator

import asyncpg
import pytest

# Servers started by tests (in this process or as subprocesses, which inherit this) do
# not load the speech engines or transcribe calls unless a test asks for it: Whisper on
# every test call would cost seconds of CPU each.
os.environ.setdefault("TANDEM_TRANSCRIPTS", "false")
# Calls go to the queue as they did before the digital human, unless a test asks for it.
os.environ.setdefault("TANDEM_CALLS_FIRST", "queue")

DATABASE_URL = os.environ.get(
    "TANDEM_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("TANDEM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def unavailable(what: str, error: BaseException) -> None:
    reason = f"{what} is not reachable ({type(error).__name__}: {error})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true requires it")
    warnings.warn(f"SKIPPING: {reason}", stacklevel=2)
    pytest.skip(reason)


@pytest.fixture
async def pg_schema() -> AsyncIterator[str]:
    """A fresh, empty schema, dropped afterwards."""
    schema = f"tandem_test_{uuid.uuid4().hex[:12]}"
    try:
        conn = await asyncpg.connect(DATABASE_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unavailable(f"PostgreSQL at {DATABASE_URL}", error)
    try:
        yield schema
    finally:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await conn.close()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    prefix = f"tandem_test_{uuid.uuid4().hex[:12]}:"
    client = aioredis.from_url(REDIS_URL, socket_connect_timeout=5)
    try:
        await client.ping()
    except (RedisError, OSError) as error:
        await client.aclose()
        unavailable(f"Redis at {REDIS_URL}", error)
    try:
        yield prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
