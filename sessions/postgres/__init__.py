"""The PostgreSQL store: the durable, append-only conversation log (asyncpg)."""

from sessions.postgres.migrations_runner import (
    SchemaError,
    code_schema_version,
    migrate,
    schema_version,
)
from sessions.postgres.store import PostgresStore

__all__ = [
    "PostgresStore",
    "SchemaError",
    "code_schema_version",
    "migrate",
    "schema_version",
]
