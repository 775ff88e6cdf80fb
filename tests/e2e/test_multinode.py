"""Two gateway processes sharing PostgreSQL and Redis: a customer on one node, an agent
on the other, chatting; every message exactly once, in order, on both sides."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import aiohttp
import pytest

from tests.conftest import DATABASE_URL, REDIS_URL
from tests.e2e.harness import Client, hand_to_agent
from tests.e2e.test_cli_process import ROOT, clean_env, free_port, wait_healthy


@dataclass
class Node:
    url: str
    process: subprocess.Popen[str]

    async def client(self, username: str) -> Client:
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/api/v1/demo/login", json={"username": username}) as r,
        ):
            login = await r.json()
        client = Client(self.url, f"/{login['role']}", login["token"], login)
        await client.connect()
        return client


@contextmanager
def node(env: dict[str, str], name: str) -> Iterator[Node]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--demo", "--port", str(port)],
        cwd=ROOT,
        env={**env, "TANDEM_NODE_ID": name},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield Node(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
async def cluster(pg_schema: str, redis_prefix: str) -> AsyncIterator[tuple[Node, Node]]:
    env = clean_env(
        TANDEM_DATABASE_URL=DATABASE_URL,
        TANDEM_DATABASE_SCHEMA=pg_schema,
        TANDEM_REDIS_URL=REDIS_URL,
        TANDEM_REDIS_PREFIX=redis_prefix,
        TANDEM_MIGRATE_ON_START="true",
        TANDEM_WRAP_UP_SECONDS="0",
        # One secret for the cluster: a token from either node is good on both.
        TANDEM_JWT_SECRET=uuid.uuid4().hex * 2,
        TANDEM_LOG_LEVEL="WARNING",
    )
    with ExitStack() as stack:
        a = stack.enter_context(node(env, "node-a"))
        await wait_healthy(a.url, a.process)
        b = stack.enter_context(node(env, "node-b"))
        await wait_healthy(b.url, b.process)
        yield a, b


async def test_customer_on_one_node_agent_on_another(
    cluster: tuple[Node, Node], clients: list[Client]
) -> None:
    a, b = cluster
    async with aiohttp.ClientSession() as http, http.get(f"{a.url}/readyz") as r:
        body = await r.json()
    assert body["checks"]["redis"]["status"] == "ok", body
    alice = await a.client("alice")
    anna = await b.client("anna")
    clients.extend([alice, anna])
    cid = await hand_to_agent(alice, anna)

    for i in range(30):
        sent = await alice.command("message.send", conversation_id=cid, text=f"c{i}")
        await anna.wait_event(cid, lambda e, s=sent["seq"]: e["seq"] == s, timeout=10)
        reply = await anna.command("message.send", conversation_id=cid, text=f"a{i}")
        await alice.wait_event(cid, lambda e, s=reply["seq"]: e["seq"] == s, timeout=10)

    # The log, read from either node: one greeting (the bot answered on one node only),
    # every message once, in order; both clients hold exactly the log.
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{b.url}/api/v1/conversations/{cid}/events",
            headers={"Authorization": f"Bearer {alice.token}"},
        ) as r,
    ):
        log = (await r.json())["events"]
    seqs = [e["seq"] for e in log]
    assert seqs == list(range(1, len(log) + 1))
    greetings = [e for e in log if e["data"].get("kind") == "greeting"]
    assert len(greetings) == 1
    texts = [e["data"]["text"] for e in log if e["type"] == "message.sent" and e["actor"] != "bot"]
    assert texts == [t for i in range(30) for t in (f"c{i}", f"a{i}")]
    assert alice.known(cid) == seqs
    assert anna.known(cid) == seqs


async def test_kill_9_of_the_customers_node_loses_nothing(
    cluster: tuple[Node, Node], clients: list[Client]
) -> None:
    a, b = cluster
    alice = await a.client("alice")
    anna = await b.client("anna")
    clients.extend([alice, anna])
    cid = await hand_to_agent(alice, anna)

    async def agent_talks() -> list[int]:
        sent = []
        for i in range(60):
            sent.append(
                (await anna.command("message.send", conversation_id=cid, text=f"agent {i}"))["seq"]
            )
            await asyncio.sleep(0.005)
        return sent

    talking = asyncio.create_task(agent_talks())
    await anna.wait_event(cid, lambda e: True, timeout=5)
    await asyncio.sleep(0.1)
    a.process.send_signal(signal.SIGKILL)  # no goodbye, no flush
    a.process.wait(timeout=5)
    sent = await talking

    # The customer's app reconnects to the surviving node and resumes from what it has.
    have = alice.known(cid)
    again = await b.client("alice")
    clients.append(again)
    again.events[cid] = list(alice.events[cid])
    again.own[cid] = list(alice.own[cid])
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": max(have)})
    assert ack["ok"] and ack["last_seq"] == sent[-1]
    assert again.known(cid) == list(range(1, sent[-1] + 1))
    texts = [
        e["data"]["text"]
        for e in again.events[cid]
        if e["type"] == "message.sent" and e["actor"] == "agent:anna"
    ]
    assert texts == [f"agent {i}" for i in range(60)]
    # And the conversation goes on through the surviving node.
    more = await again.command("message.send", conversation_id=cid, text="back")
    await anna.wait_event(cid, lambda e: e["seq"] == more["seq"], timeout=10)
