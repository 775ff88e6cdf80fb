"""Versioned SQL migrations: `NNNN_name.sql` files applied in order, once each.

A migration runs in one transaction with its record in `schema_migrations`, under an
advisory lock, so two nodes starting together cannot both apply it. A database whose
schema is newer than this code is refused: old code must not write to a log whose shape
it does not know.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

__all__ = ["Migration", "SchemaError", "code_schema_version", "migrate", "schema_version"]

log = logging.getLogger("tandem.migrations")

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Any constant shared by every Tandem node: pg_advisory_xact_lock's key.
_LOCK_KEY = 0x7A4D3E


class SchemaError(Exception):
    """The database schema does not fit this code; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    found = []
    folder = resources.files("sessions.postgres") / "migrations"
    for entry in folder.iterdir():
        if match := _FILE.match(entry.name):
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise SchemaError(f"migrations must be numbered 1..n without gaps: {found}")
    return found


def code_schema_version() -> int:
    return len(migrations())


async def _ensure_table(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )


async def schema_version(conn: asyncpg.Connection, schema: str) -> int:
    """The highest migration applied in `schema` (0 for a new database)."""
    exists = await conn.fetchval(
        "SELECT to_regclass($1) IS NOT NULL", f'"{schema}".schema_migrations'
    )
    if not exists:
        return 0
    version = await conn.fetchval(f'SELECT max(version) FROM "{schema}".schema_migrations')
    return int(version or 0)


async def migrate(conn: asyncpg.Connection, schema: str) -> list[Migration]:
    """Apply the migrations `schema` lacks; return them. Refuses a newer schema."""
    # One migrator at a time across every node, from creating the bookkeeping table on:
    # concurrent CREATE ... IF NOT EXISTS can still collide in PostgreSQL's catalogs.
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await _ensure_table(conn, schema)
        applied: list[Migration] = []
        for migration in migrations():
            if migration.version <= await schema_version(conn, schema):
                continue
            async with conn.transaction():
                await conn.execute(f'SET LOCAL search_path TO "{schema}"')
                await conn.execute(migration.sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (version, name) VALUES ($1, $2)',
                    migration.version,
                    migration.name,
                )
            log.info(
                "applied migration %04d_%s to schema %s",
                migration.version,
                migration.name,
                schema,
            )
            applied.append(migration)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    await check_schema(conn, schema)
    return applied


async def check_schema(conn: asyncpg.Connection, schema: str) -> None:
    """Raise `SchemaError` unless `schema` is exactly at this code's version."""
    have, want = await schema_version(conn, schema), code_schema_version()
    if have > want:
        raise SchemaError(
            f"database schema {schema!r} is at version {have}, newer than this Tandem "
            f"(which knows {want}): upgrade Tandem, do not run old code on a newer log"
        )
    if have < want:
        raise SchemaError(
            f"database schema {schema!r} is at version {have}, this Tandem needs {want}: "
            "run `python -m gateway migrate` (or set TANDEM_MIGRATE_ON_START=true)"
        )
