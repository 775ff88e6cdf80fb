"""Several customers and agents at once: no cross-talk, capacities hold, logs stay whole."""

from __future__ import annotations

import asyncio
import uuid

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client


async def test_eight_customers_three_agents_at_once(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(agent_capacity=2)
    run = uuid.uuid4().hex[:6]
    customers = [await server.client(f"customer-{run}-{i}") for i in range(8)]
    agents = [await server.client(f"agent-{run}-{i}") for i in range(3)]
    clients.extend([*customers, *agents])
    starts = await asyncio.gather(*(c.command("conversation.start") for c in customers))
    conversation_of = {
        c.id: ack["conversation_id"] for c, ack in zip(customers, starts, strict=True)
    }
    for agent in agents:
        assert (await agent.call("presence.set", {"status": "ready"}))["ok"]
    await asyncio.gather(
        *(c.command("agent.request", conversation_id=conversation_of[c.id]) for c in customers)
    )

    # Three agents x capacity two: six are served, two wait and see their place improve.
    served: dict[str, Client] = {}

    async def take_offers(agent: Client) -> None:
        taken = 0
        while taken < 2:
            offer = await agent.wait_for(
                "offer", lambda o: o["conversation_id"] not in served, timeout=10
            )
            ack = await agent.call(
                "offer.accept", {"key": uuid.uuid4().hex, "offer_id": offer["offer_id"]}
            )
            assert ack["ok"], ack
            served[ack["conversation_id"]] = agent
            taken += 1

    await asyncio.gather(*(take_offers(a) for a in agents))
    assert len(served) == 6
    waiting = [c for c in customers if conversation_of[c.id] not in served]
    assert len(waiting) == 2
    for customer in waiting:
        cid = conversation_of[customer.id]
        positions = [
            p["position"]
            for name, p in customer.received
            if name == "queue.position" and p["conversation_id"] == cid
        ]
        assert positions[-1] <= 2 and positions == sorted(positions, reverse=True), positions
    for agent in agents:
        presence = server.services.router.presence_of(agent.id)
        assert presence is not None and presence.load == 2
        assert presence.status(server.services.clock()) == "busy"

    # Every served pair talks at the same time.
    async def talk(customer: Client) -> None:
        cid = conversation_of[customer.id]
        agent = served[cid]
        for i in range(5):
            sent = await customer.command(
                "message.send", conversation_id=cid, text=f"{customer.id} says {i}"
            )
            await agent.wait_event(cid, lambda e, s=sent["seq"]: e["seq"] == s)
            reply = await agent.command(
                "message.send", conversation_id=cid, text=f"{agent.id} answers {customer.id} {i}"
            )
            await customer.wait_event(cid, lambda e, s=reply["seq"]: e["seq"] == s)

    await asyncio.gather(*(talk(c) for c in customers if conversation_of[c.id] in served))
    await server.settle()
    for customer in customers:
        cid = conversation_of[customer.id]
        log = await server.services.conversations.history(cid)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        authors = {e.actor for e in log if e.type == "message.sent"}
        expected = {f"customer:{customer.id}", "bot"}
        if cid in served:
            expected.add(f"agent:{served[cid].id}")
        assert authors <= expected, authors
        texts = [
            str(e.data["text"])
            for e in log
            if e.type == "message.sent" and e.actor.startswith(("customer:", "agent:"))
        ]
        assert all(customer.id in text for text in texts), texts
        assert customer.known(cid) == [e.seq for e in log]
    for agent in agents:
        foreign = {cid for cid in agent.events if served.get(cid) is not agent}
        assert not foreign
