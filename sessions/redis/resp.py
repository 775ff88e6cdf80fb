"""One plain Redis connection for a hot path: a command, then its reply, nothing more.

The feed writes one stream entry per append batch. Through redis-py's client, a command
costs ~140 µs of CPU (~105 µs even on its bare connection: its retry, observability and
connection-pool layers), which made the entry dearer than the append's own round trip to
PostgreSQL; packing the command here and parsing the reply with hiredis costs ~40 µs.
For anything but a plain TCP or Unix-socket URL (TLS, say), use redis-py.

Not a client: no pool, no retries, and one caller at a time (the feed's writer task, the
state cache's writer): replies are matched to commands by order. `pipeline` sends several
commands in one write and reads their replies in order. A failed or interrupted command
closes the connection (what was half sent or half read is lost with it) and raises
`redis.exceptions.ConnectionError`; the next command connects again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import (
    Connection,
    UnixDomainSocketConnection,
    parse_url,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

__all__ = ["RespConnection", "pack", "supports"]

_READ_SIZE = 65536


def supports(url: str) -> bool:
    """Whether `RespConnection` can talk to this URL (plain TCP or a Unix socket)."""
    kind = parse_url(url).get("connection_class", Connection)
    return kind in (Connection, UnixDomainSocketConnection)


def pack(args: tuple[str | bytes | int, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += (b"$%d\r\n" % len(raw), raw, b"\r\n")
    return b"".join(parts)


class RespConnection:
    def __init__(self, url: str, *, connect_timeout: float = 5.0) -> None:
        if not supports(url):
            raise ValueError("RespConnection takes redis:// and unix:// URLs only")
        self._options: dict[str, Any] = dict(parse_url(url))
        self._connect_timeout = connect_timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._parser = hiredis.Reader()

    async def command(self, *args: str | bytes | int) -> Any:
        """Send one command and return its reply; `ResponseError` if Redis refused it."""
        (reply,) = await self.pipeline([args])
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    async def pipeline(self, commands: Sequence[Sequence[str | bytes | int]]) -> list[Any]:
        """Send `commands` in one write; their replies in order, a command Redis refused
        as a `ResponseError` in its place (the others still ran)."""
        try:
            reader, writer = self._streams or await self._connect()
            writer.write(b"".join(pack(tuple(args)) for args in commands))
            replies = [await self._reply(reader) for _ in commands]
        except BaseException as error:
            self.close()
            if isinstance(error, OSError | EOFError | hiredis.ProtocolError):
                raise RedisConnectionError(f"Redis connection lost: {error!r}") from error
            raise
        return [ResponseError(str(r)) if isinstance(r, hiredis.ReplyError) else r for r in replies]

    async def _reply(self, reader: asyncio.StreamReader) -> Any:
        while (reply := self._parser.gets()) is False:
            data = await reader.read(_READ_SIZE)
            if not data:
                raise EOFError("Redis closed the connection")
            self._parser.feed(data)
        return reply

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        options = self._options
        async with asyncio.timeout(self._connect_timeout):
            if "path" in options:
                streams = await asyncio.open_unix_connection(options["path"])
            else:
                streams = await asyncio.open_connection(
                    options.get("host", "localhost"), options.get("port", 6379)
                )
        self._streams = streams
        self._parser = hiredis.Reader()
        if options.get("password") is not None:
            user = options.get("username")
            await self.command("AUTH", *([user] if user else []), options["password"])
        if options.get("db"):
            await self.command("SELECT", int(options["db"]))
        return streams

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
            self._streams = None
