"""Two gateway processes sharing PostgreSQL and Redis: a customer on one node, an agent
on the other, chatting; every message exactly once, in order, on both sides."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
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
def cluster_env(pg_schema: str, redis_prefix: str) -> dict[str, str]:
    return clean_env(
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


@asynccontextmanager
async def two_nodes(env: dict[str, str]) -> AsyncIterator[tuple[Node, Node]]:
    with ExitStack() as stack:
        a = stack.enter_context(node(env, "node-a"))
        await wait_healthy(a.url, a.process)
        b = stack.enter_context(node(env, "node-b"))
        await wait_healthy(b.url, b.process)
        yield a, b


@pytest.fixture
async def cluster(cluster_env: dict[str, str]) -> AsyncIterator[tuple[Node, Node]]:
    async with two_nodes(cluster_env) as nodes:
        yield nodes


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


async def test_sigterm_moves_a_talking_customer_to_the_other_node(
    cluster: tuple[Node, Node], clients: list[Client]
) -> None:
    """Graceful shutdown: the node tells its clients to reconnect, finishes what it
    accepted and exits 0; the customer resumes on the other node, retries what got no
    ack under the same keys, and the log has every message once."""
    a, b = cluster
    alice = await a.client("alice")
    anna = await b.client("anna")
    clients.extend([alice, anna])
    cid = await hand_to_agent(alice, anna)
    keys = [f"m{i}" for i in range(80)]
    unacked: list[str] = []

    async def customer_talks() -> None:
        for i, key in enumerate(keys):
            try:
                ack = await alice.call(
                    "message.send",
                    {"conversation_id": cid, "text": f"c{i}", "key": key},
                    timeout=3,
                )
            except Exception:  # the node went away under this call: no ack
                unacked.extend(keys[i:])
                return
            if not ack["ok"]:  # refused while shutting down: retry elsewhere
                unacked.extend(keys[i:])
                return
            alice.own[cid].append(ack["seq"])
            await asyncio.sleep(0.01)

    talking = asyncio.create_task(customer_talks())
    await asyncio.sleep(0.2)
    a.process.send_signal(signal.SIGTERM)
    await alice.wait_for("server.shutdown", timeout=5)
    await talking
    assert await asyncio.to_thread(a.process.wait, 15) == 0

    again = await b.client("alice")
    clients.append(again)
    again.events[cid] = list(alice.events[cid])
    again.own[cid] = list(alice.own[cid])
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": max(alice.known(cid))})
    assert ack["ok"], ack
    for key in unacked:
        i = keys.index(key)
        ack = await again.call(
            "message.send", {"conversation_id": cid, "text": f"c{i}", "key": key}
        )
        assert ack["ok"], ack
        # A message the node committed just before it went (its ack lost with the
        # socket) came back with the resume: the retry replays its seq, already seen.
        if ack["seq"] not in again.seqs(cid):
            again.own[cid].append(ack["seq"])
    last = max(again.known(cid))
    assert again.known(cid) == list(range(1, last + 1))
    await anna.wait_event(cid, lambda e: e["seq"] == last, timeout=10)
    texts = [
        e["data"]["text"]
        for e in anna.events[cid]
        if e["type"] == "message.sent" and e["actor"] == "customer:alice"
    ]
    assert texts == [f"c{i}" for i in range(80)]
    assert anna.known(cid) == list(range(1, last + 1))


async def test_an_offer_declined_on_one_node_goes_to_an_agent_on_the_other(
    cluster_env: dict[str, str], clients: list[Client]
) -> None:
    env = {**cluster_env, "TANDEM_DISPATCH_INTERVAL_SECONDS": "0.3"}
    async with two_nodes(env) as (a, b):
        anna = await a.client("anna")
        ben = await b.client("ben")
        alice = await b.client("alice")
        clients.extend([anna, ben, alice])
        assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
        cid = (await alice.command("conversation.start"))["conversation_id"]
        await alice.command("agent.request", conversation_id=cid)
        offer = await anna.wait_for("offer", timeout=10)
        assert (await ben.call("presence.set", {"status": "ready"}))["ok"]
        await asyncio.sleep(0.5)
        assert not [o for name, o in ben.received if name == "offer"], "offered twice at once"
        assert (await anna.call("offer.decline", {"offer_id": offer["offer_id"]}))["ok"]
        second = await ben.wait_for("offer", timeout=5)
        assert second["conversation_id"] == cid
        # Anna passed on it, and Ben is there: she is not asked again meanwhile.
        assert len([o for name, o in anna.received if name == "offer"]) == 1
        await ben.command("offer.accept", offer_id=second["offer_id"])
        await alice.wait_event(cid, lambda e: e["data"].get("to") == "agent:ben")


async def test_an_offer_outlives_the_node_that_made_it(
    cluster_env: dict[str, str], clients: list[Client]
) -> None:
    env = {
        **cluster_env,
        "TANDEM_DISPATCH_INTERVAL_SECONDS": "0.3",
        "TANDEM_OFFER_TIMEOUT_SECONDS": "2",
    }
    async with two_nodes(env) as (a, b):
        anna = await a.client("anna")
        ben = await b.client("ben")
        alice = await b.client("alice")
        clients.extend([ben, alice])
        assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
        cid = (await alice.command("conversation.start"))["conversation_id"]
        await alice.command("agent.request", conversation_id=cid)
        await anna.wait_for("offer", timeout=10)
        assert (await ben.call("presence.set", {"status": "ready"}))["ok"]
        a.process.send_signal(signal.SIGKILL)  # the offering node dies holding the offer
        a.process.wait(timeout=5)
        # Its claim expires (offer timeout + 1 s) and the survivor offers it: not forgotten.
        offer = await ben.wait_for("offer", timeout=8)
        assert offer["conversation_id"] == cid
        await ben.command("offer.accept", offer_id=offer["offer_id"])
        await alice.wait_event(cid, lambda e: e["data"].get("to") == "agent:ben")


async def test_when_everyone_on_both_nodes_passed_a_new_round_starts(
    cluster_env: dict[str, str], clients: list[Client]
) -> None:
    """Declines are known per node: neither node may wait forever for the other's agent."""
    env = {
        **cluster_env,
        "TANDEM_DISPATCH_INTERVAL_SECONDS": "0.3",
        "TANDEM_OFFER_TIMEOUT_SECONDS": "2",
    }
    async with two_nodes(env) as (a, b):
        anna = await a.client("anna")
        ben = await b.client("ben")
        alice = await b.client("alice")
        clients.extend([anna, ben, alice])
        for agent in (anna, ben):
            assert (await agent.call("presence.set", {"status": "ready"}))["ok"]
        cid = (await alice.command("conversation.start"))["conversation_id"]
        await alice.command("agent.request", conversation_id=cid)
        for _ in range(2):  # one offer to each, each declined
            offered = await asyncio.wait_for(
                asyncio.wait(
                    [asyncio.create_task(x.wait_for("offer", timeout=8)) for x in (anna, ben)],
                    return_when=asyncio.FIRST_COMPLETED,
                ),
                9,
            )
            assert offered
            for agent in (anna, ben):
                for name, offer in list(agent.received):
                    if name == "offer" and not offer.get("_seen"):
                        offer["_seen"] = True
                        assert (await agent.call("offer.decline", {"offer_id": offer["offer_id"]}))[
                            "ok"
                        ]
            await asyncio.sleep(0.1)
        # Both passed: within an offer's time and a tick, someone is asked again.
        deadline = asyncio.get_running_loop().time() + 6
        while asyncio.get_running_loop().time() < deadline:
            total = sum(1 for x in (anna, ben) for name, _ in x.received if name == "offer")
            if total >= 3:
                break
            await asyncio.sleep(0.1)
        assert total >= 3, "nobody was offered the conversation again"
