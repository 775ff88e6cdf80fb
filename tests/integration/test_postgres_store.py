"""The store contract and the migrations against the real PostgreSQL on this machine."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from sessions.postgres import PostgresStore, SchemaError, code_schema_version, migrate
from sessions.postgres.migrations_runner import schema_version
from tests.conftest import DATABASE_URL
from tests.integration.store_contract import StoreContract, message, started


class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def store(self, pg_schema: str) -> AsyncIterator[PostgresStore]:
        store = await PostgresStore.open(DATABASE_URL, schema=pg_schema, migrate_on_start=True)
        yield store
        await store.close()


async def test_refuses_an_unmigrated_schema_then_migrates_once(pg_schema: str) -> None:
    with pytest.raises(SchemaError, match="python -m gateway migrate"):
        await PostgresStore.open(DATABASE_URL, schema=pg_schema)
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        first = await migrate(conn, pg_schema)
        again = await migrate(conn, pg_schema)
        assert [m.version for m in first] == list(range(1, code_schema_version() + 1))
        assert again == []
        assert await schema_version(conn, pg_schema) == code_schema_version()
    finally:
        await conn.close()
    store = await PostgresStore.open(DATABASE_URL, schema=pg_schema)
    await store.close()


async def test_refuses_a_schema_newer_than_the_code(pg_schema: str) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        await migrate(conn, pg_schema)
        await conn.execute(
            f'INSERT INTO "{pg_schema}".schema_migrations (version, name) VALUES ($1, $2)',
            code_schema_version() + 1,
            "from_the_future",
        )
    finally:
        await conn.close()
    with pytest.raises(SchemaError, match="newer than this Tandem"):
        await PostgresStore.open(DATABASE_URL, schema=pg_schema, migrate_on_start=True)


async def test_a_restart_sees_everything_acknowledged(pg_schema: str) -> None:
    store = await PostgresStore.open(DATABASE_URL, schema=pg_schema, migrate_on_start=True)
    await store.append("c1", 0, started("alice"))
    await store.append("c1", 2, [message("kept")], idempotency_key="k")
    await store.close()
    reopened = await PostgresStore.open(DATABASE_URL, schema=pg_schema)
    try:
        assert [e.data.get("text") for e in await reopened.read("c1", 2)] == ["kept"]
        again = await reopened.append("c1", 3, [message("kept")], idempotency_key="k")
        assert again.replayed and again.seqs == [3]
        state = await reopened.load("c1")
        assert state is not None and state.last_seq == 3
    finally:
        await reopened.close()


async def test_writers_never_take_the_last_connection_from_reads(pg_schema: str) -> None:
    store = await PostgresStore.open(
        DATABASE_URL, schema=pg_schema, migrate_on_start=True, min_size=1, max_size=1
    )
    try:
        await store.append("c1", 0, started("alice"))
        await store.append("c1", 2, [message("hi")])
        read = await asyncio.wait_for(store.read("c1"), 5)
        assert [e.seq for e in read] == [1, 2, 3]
    finally:
        await store.close()


async def test_close_waits_for_a_batch_being_written(pg_schema: str) -> None:
    store = await PostgresStore.open(DATABASE_URL, schema=pg_schema, migrate_on_start=True)
    await store.append("c1", 0, started("alice"))
    appending = asyncio.ensure_future(store.append("c1", 2, [message("last")]))
    await asyncio.sleep(0)  # its state is cached: it is in the next batch now
    await store.close()
    assert (await appending).seqs == [3]
    reopened = await PostgresStore.open(DATABASE_URL, schema=pg_schema)
    try:
        assert [e.seq for e in await reopened.read("c1")] == [1, 2, 3]
    finally:
        await reopened.close()


def test_migrations_ship_with_the_package() -> None:
    import sessions.postgres

    folder = Path(sessions.postgres.__file__).parent / "migrations"
    assert sorted(p.name for p in folder.glob("*.sql"))[0] == "0001_initial.sql"
