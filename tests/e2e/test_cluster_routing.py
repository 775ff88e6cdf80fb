"""Routing with two nodes on one PostgreSQL and one Redis (in-process servers)."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, cluster_settings


async def test_a_conversation_is_offered_to_one_agent_at_a_time_across_nodes(
    pg_schema: str, redis_prefix: str, server_factory: ServerFactory, clients: list[Client]
) -> None:
    common = cluster_settings(pg_schema, redis_prefix, offer_timeout_seconds=1.0)
    a = await server_factory(node_id="node-a", **common)
    b = await server_factory(node_id="node-b", **common)
    anna = await a.client("anna")
    ben = await b.client("ben")
    alice = await a.client("alice")
    clients.extend([anna, ben, alice])
    for agent in (anna, ben):
        assert (await agent.call("presence.set", {"status": "ready"}))["ok"]
    cid = (await alice.command("conversation.start"))["conversation_id"]
    await alice.command("agent.request", conversation_id=cid)

    first = await asyncio.wait_for(
        asyncio.wait(
            [asyncio.create_task(agent.wait_for("offer", timeout=5)) for agent in (anna, ben)],
            return_when=asyncio.FIRST_COMPLETED,
        ),
        6,
    )
    await asyncio.sleep(0.5)  # well inside the 1 s offer: nobody else may be offered it
    offers = [(c.id, o) for c in (anna, ben) for name, o in c.received if name == "offer"]
    assert len(offers) == 1, offers
    winner = anna if offers[0][0] == "anna" else ben
    ack = await winner.call("offer.accept", {"key": "k", "offer_id": offers[0][1]["offer_id"]})
    assert ack["ok"], ack
    await alice.wait_event(cid, lambda e: e["data"].get("to") == f"agent:{winner.id}")
    assert first


async def test_every_node_sees_every_agents_presence(
    pg_schema: str, redis_prefix: str, server_factory: ServerFactory, clients: list[Client]
) -> None:
    common = cluster_settings(pg_schema, redis_prefix)
    a = await server_factory(node_id="node-a", **common)
    b = await server_factory(node_id="node-b", **common)
    anna = await a.client("anna")
    ben = await b.client("ben")
    clients.extend([anna, ben])
    assert (await ben.call("presence.set", {"status": "ready"}))["ok"]
    token = (await a.login("sara"))["token"]
    status, body = await a.get("/api/v1/agents", token)
    assert status == 200
    seen_from_a = {agent["agent_id"]: agent["status"] for agent in body["agents"]}
    assert seen_from_a == {"anna": "not_ready", "ben": "ready"}
    sara = await b.client("sara")
    clients.append(sara)
    snapshot = await sara.call("queue.snapshot", {})
    assert {agent["agent_id"] for agent in snapshot["agents"]} == {"anna", "ben"}
    await ben.close()
    clients.remove(ben)
    for _ in range(50):
        body = (await a.get("/api/v1/agents", token))[1]
        if {x["agent_id"]: x["status"] for x in body["agents"]}["ben"] == "offline":
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("ben still shown connected after leaving")
