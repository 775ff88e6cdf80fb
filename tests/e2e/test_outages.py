"""Dependency outages through a fault-injecting proxy (never the machine's own servers):
commands during an outage get a clear `retry`, and after recovery nothing acknowledged is
lost and nothing is duplicated."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.conftest import DATABASE_URL, REDIS_URL
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, cluster_settings, hand_to_agent
from tests.e2e.test_delivery import served_by_agent
from tests.faults import FaultProxy


def via(url: str, proxy: FaultProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.replace(f"{parts.hostname}:{parts.port}", f"127.0.0.1:{proxy.port}")
    return parts._replace(netloc=netloc).geturl()


@pytest.fixture
async def pg_proxy() -> AsyncIterator[FaultProxy]:
    parts = urlsplit(DATABASE_URL)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def redis_proxy() -> AsyncIterator[FaultProxy]:
    parts = urlsplit(REDIS_URL)
    proxy = FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.close()


async def send_until_acked(client: Client, cid: str, key: str, text: str) -> tuple[dict, int]:
    """What a client does: retry with the same key until the server acks."""
    retries = 0
    while True:
        ack = await client.call("message.send", {"key": key, "conversation_id": cid, "text": text})
        if ack["ok"]:
            return ack, retries
        assert ack["error"]["code"] == "retry", ack
        retries += 1
        await asyncio.sleep(0.1)


async def test_postgres_outage_says_retry_and_loses_nothing(
    pg_schema: str, pg_proxy: FaultProxy, server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(
        database_url=via(DATABASE_URL, pg_proxy), database_schema=pg_schema, migrate_on_start=True
    )
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    acked: list[int] = []
    for i in range(5):
        ack, _ = await send_until_acked(alice, cid, f"before-{i}", f"before {i}")
        acked.append(ack["seq"])

    await pg_proxy.cut()
    during = await alice.call(
        "message.send", {"key": "during-0", "conversation_id": cid, "text": "during 0"}
    )
    assert during["ok"] is False and during["error"]["code"] == "retry"
    assert "PostgreSQL" in during["error"]["message"]
    status, ready = await server.get("/readyz")
    assert status == 503 and ready["checks"]["store"]["status"] == "failing"

    async def heal() -> None:
        await asyncio.sleep(1.0)
        pg_proxy.restore()

    healing = asyncio.create_task(heal())
    for i in range(5):
        ack, _ = await send_until_acked(alice, cid, f"during-{i}", f"during {i}")
        acked.append(ack["seq"])
    await healing
    assert (await server.get("/readyz"))[0] == 200

    log = await server.services.conversations.history(cid)
    texts = [
        e.data["text"] for e in log if e.actor == "customer:alice" and e.type == "message.sent"
    ]
    assert texts == [f"before {i}" for i in range(5)] + [f"during {i}" for i in range(5)]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    for seq in acked:
        await anna.wait_event(cid, lambda e, s=seq: e["seq"] == s)
    assert anna.known(cid) == [e.seq for e in log][: len(anna.known(cid))]


async def test_redis_outage_delays_other_nodes_then_catches_up(
    pg_schema: str,
    redis_prefix: str,
    redis_proxy: FaultProxy,
    server_factory: ServerFactory,
    clients: list[Client],
) -> None:
    common = cluster_settings(pg_schema, redis_prefix, redis_url=via(REDIS_URL, redis_proxy))
    a = await server_factory(node_id="node-a", **common)
    b = await server_factory(node_id="node-b", **common)
    alice = await a.client("alice")
    anna = await b.client("anna")
    clients.extend([alice, anna])
    cid = await hand_to_agent(alice, anna)

    await redis_proxy.cut()
    # PostgreSQL still takes the writes: the customer's messages are acknowledged.
    sent = [
        (await alice.command("message.send", conversation_id=cid, text=f"m{i}"))["seq"]
        for i in range(10)
    ]
    status, ready = await a.get("/readyz")
    assert status == 503 and ready["checks"]["redis"]["status"] == "failing"
    redis_proxy.restore()
    # Once Redis is back, node B hears what it missed, each message once, in order.
    await anna.wait_event(cid, lambda e: e["seq"] == sent[-1], timeout=15)
    assert [s for s in anna.seqs(cid) if s in sent] == sent
    assert anna.known(cid) == sorted(set(anna.known(cid)))
    reply = await anna.command("message.send", conversation_id=cid, text="got them all")
    await alice.wait_event(cid, lambda e: e["seq"] == reply["seq"], timeout=15)
