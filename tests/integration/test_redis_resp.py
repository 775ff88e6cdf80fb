"""The feed's plain Redis connection (`sessions.redis.resp`) against the real Redis."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from sessions.redis.resp import RespConnection, pack, supports
from tests.conftest import REDIS_URL


def test_packs_the_redis_protocol() -> None:
    assert pack(("XADD", b"k", 5)) == b"*3\r\n$4\r\nXADD\r\n$1\r\nk\r\n$1\r\n5\r\n"
    assert pack(("SET", "é")) == "*2\r\n$3\r\nSET\r\n$2\r\né\r\n".encode()


def test_takes_plain_urls_only() -> None:
    assert supports("redis://127.0.0.1:6379/0")
    assert supports("unix:///run/redis.sock?db=1")
    assert not supports("rediss://redis.bank.internal:6380/0")
    with pytest.raises(ValueError, match="redis:// and unix://"):
        RespConnection("rediss://redis.bank.internal:6380/0")


async def test_commands_replies_refusals_and_a_reconnect(redis_prefix: str) -> None:
    conn = RespConnection(REDIS_URL)
    key = f"{redis_prefix}resp"
    try:
        entry = await conn.command("XADD", key, "MAXLEN", "~", 10, "*", "f", "v")
        assert isinstance(entry, bytes) and b"-" in entry
        assert await conn.command("XLEN", key) == 1
        with pytest.raises(ResponseError):
            await conn.command("XADD", key, "not-an-id", "f", "v")
        conn.close()  # the next command connects again
        assert await conn.command("XLEN", key) == 1
    finally:
        await conn.command("DEL", key)
        conn.close()


async def test_a_server_that_is_not_there_is_a_connection_error() -> None:
    conn = RespConnection("redis://127.0.0.1:1/0", connect_timeout=1)
    with pytest.raises(RedisConnectionError):
        await conn.command("PING")


async def test_a_pipeline_answers_in_order_and_a_refusal_stays_in_its_place(
    redis_prefix: str,
) -> None:
    conn = RespConnection(REDIS_URL)
    key = f"{redis_prefix}pipeline"
    try:
        replies = await conn.pipeline(
            [("SET", key, "1"), ("INCRBY", key, "not-a-number"), ("INCRBY", key, 2), ("GET", key)]
        )
        assert replies[0] == b"OK"
        assert isinstance(replies[1], ResponseError)
        assert replies[2:] == [3, b"3"]
        # The connection is still in step: the next reply is this command's.
        assert await conn.command("GET", key) == b"3"
    finally:
        await conn.command("DEL", key)
        conn.close()
