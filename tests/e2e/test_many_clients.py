"""Many customers and agents at once: fair queueing, capacity, no cross-talk, whole logs."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_chat_flow import start

CUSTOMERS = 10
AGENTS = 3
CAPACITY = 3  # 3 agents x 3 = 9 places: the 10th customer waits for a free one
MESSAGES = 3


async def accept_offers(
    agent: Client,
    assigned: dict[str, str],
    full: asyncio.Event,
    enough: asyncio.Event,
    failures: list[Any],
) -> None:
    """Accept every offer this agent gets until `enough` is set; set `full` once every
    place is taken."""
    handled: set[str] = set()
    while not enough.is_set():
        try:
            offer = await agent.wait_for(
                "offer", lambda o: o["offer_id"] not in handled, timeout=0.1
            )
        except TimeoutError:
            continue
        handled.add(offer["offer_id"])
        ack = await agent.call(
            "offer.accept", {"key": uuid.uuid4().hex, "offer_id": offer["offer_id"]}
        )
        if not ack["ok"]:
            failures.append((agent.id, offer, ack))
            continue
        assert ack["conversation_id"] == offer["conversation_id"], (ack, offer)
        assigned[offer["conversation_id"]] = agent.id
        if len(assigned) == CUSTOMERS:
            enough.set()
        if len(assigned) == AGENTS * CAPACITY:
            full.set()


async def watch_loads(
    server: RunningServer, agent_ids: list[str], peaks: dict[str, int], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        for agent_id in agent_ids:
            presence = server.services.router.presence_of(agent_id)
            if presence is not None:
                peaks[agent_id] = max(peaks.get(agent_id, 0), presence.load)
        await asyncio.sleep(0.005)


def positions(customer: Client, cid: str) -> list[int]:
    return [
        d["position"]
        for n, d in customer.received
        if n == "queue.position" and d["conversation_id"] == cid
    ]


async def test_ten_customers_three_agents_at_once(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(agent_capacity=CAPACITY)
    run = uuid.uuid4().hex[:8]
    customers = list(
        await asyncio.gather(*(server.client(f"customer-{run}-{i}") for i in range(CUSTOMERS)))
    )
    agents = list(await asyncio.gather(*(server.client(f"agent-{run}-{i}") for i in range(AGENTS))))
    clients += customers + agents
    cids = list(await asyncio.gather(*(start(c) for c in customers)))
    assert len(set(cids)) == CUSTOMERS
    customer_of = {cid: customer for cid, customer in zip(cids, customers, strict=True)}

    # Everyone asks for a person at once while no agent is ready: all wait in line.
    acks = await asyncio.gather(
        *(
            c.call("agent.request", {"key": uuid.uuid4().hex, "conversation_id": cid})
            for c, cid in zip(customers, cids, strict=True)
        )
    )
    assert all(ack["ok"] for ack in acks), acks
    await asyncio.gather(
        *(
            c.wait_for("queue.position", lambda p, cid=cid: p["conversation_id"] == cid)
            for c, cid in zip(customers, cids, strict=True)
        )
    )
    first = {cid: positions(customer_of[cid], cid)[0] for cid in cids}
    assert sorted(first.values()) == list(range(1, CUSTOMERS + 1)), first
    assert not [n for a in agents for n, _ in a.received if n == "offer"]

    # The agents get ready and take offers as they come, until every place is taken.
    assigned: dict[str, str] = {}
    full = asyncio.Event()
    everyone_served = asyncio.Event()
    failures: list[Any] = []
    peaks: dict[str, int] = {}
    stop_watching = asyncio.Event()
    watcher = asyncio.create_task(watch_loads(server, [a.id for a in agents], peaks, stop_watching))
    takers = [
        asyncio.create_task(accept_offers(a, assigned, full, everyone_served, failures))
        for a in agents
    ]
    ready = await asyncio.gather(*(a.call("presence.set", {"status": "ready"}) for a in agents))
    assert all(ack["ok"] for ack in ready), ready

    await asyncio.wait_for(full.wait(), 10)
    await server.settle()
    assert failures == []
    waiting = [cid for cid in cids if cid not in assigned]
    assert len(waiting) == 1, assigned
    last = waiting[0]
    # The one left is the last in line, now first in line, and nobody has room for it.
    assert first[last] == CUSTOMERS
    state = await server.services.conversations.state(last)
    assert state is not None and state.handler == "queue"
    await customer_of[last].wait_for(
        "queue.position", lambda p: p["conversation_id"] == last and p["position"] == 1
    )
    sara = (await server.login("sara"))["token"]
    status, body = await server.get("/api/v1/agents", sara)
    assert status == 200, body
    listed = {a["agent_id"]: a for a in body["agents"] if a["agent_id"] in {ag.id for ag in agents}}
    assert len(listed) == AGENTS
    for agent in agents:
        row = listed[agent.id]
        assert row["load"] == CAPACITY and row["status"] == "busy", row
        assert set(row["conversations"]) == {c for c, a in assigned.items() if a == agent.id}
    # Nobody at capacity was offered more.
    assert not [
        d for a in agents for n, d in a.received if n == "offer" and d["conversation_id"] == last
    ]

    # One conversation closes: its agent has room again and takes the last customer.
    freed_cid = next(cid for cid in cids if cid != last and cid in assigned)
    freed_agent = next(a for a in agents if a.id == assigned[freed_cid])
    await freed_agent.command("conversation.close", conversation_id=freed_cid)
    await asyncio.wait_for(everyone_served.wait(), 10)
    assert assigned[last] == freed_agent.id
    await asyncio.gather(*takers)
    stop_watching.set()
    await watcher
    assert failures == []
    assert all(peak <= CAPACITY for peak in peaks.values()), peaks
    assert set(peaks) == {a.id for a in agents}

    # Every line moved only forward, and the waiting customers saw it move.
    for cid in cids:
        seen = positions(customer_of[cid], cid)
        assert seen == sorted(seen, reverse=True), (cid, seen)
        if first[cid] > AGENTS:
            assert min(seen) < first[cid], (cid, seen)
    assert positions(customer_of[last], last)[-1] == 1

    # Every open pair talks at the same time.
    agent_by_id = {a.id: a for a in agents}
    talking = [cid for cid in cids if cid != freed_cid]

    async def talk(cid: str) -> None:
        customer, agent = customer_of[cid], agent_by_id[assigned[cid]]
        await agent.wait_event(cid, lambda e: e["data"].get("to") == f"agent:{agent.id}")
        for m in range(MESSAGES):
            await asyncio.gather(
                customer.command(
                    "message.send", conversation_id=cid, text=f"from {customer.id} #{m}"
                ),
                agent.command(
                    "message.send",
                    conversation_id=cid,
                    text=f"from {agent.id} to {customer.id} #{m}",
                ),
            )

    await asyncio.gather(*(talk(cid) for cid in talking))

    async def heard(cid: str) -> None:
        customer, agent = customer_of[cid], agent_by_id[assigned[cid]]
        await customer.wait_event(
            cid,
            lambda e: e["data"].get("text") == f"from {agent.id} to {customer.id} #{MESSAGES - 1}",
        )
        await agent.wait_event(
            cid, lambda e: e["data"].get("text") == f"from {customer.id} #{MESSAGES - 1}"
        )

    await asyncio.gather(*(heard(cid) for cid in talking))
    await server.settle()

    # No cross-talk, and every log and every client's copy is whole and in order.
    for cid in cids:
        customer, agent = customer_of[cid], agent_by_id[assigned[cid]]
        log = await server.services.conversations.history(cid)
        assert [e.seq for e in log] == list(range(1, len(log) + 1)), cid
        actors = {e.actor for e in log if e.type == "message.sent"}
        assert actors <= {f"customer:{customer.id}", f"agent:{agent.id}", "bot"}, (cid, actors)
        handlers = [e.data["to"] for e in log if e.type == "handler.changed"]
        assert handlers[:3] == ["bot", "queue", f"agent:{agent.id}"], (cid, handlers)
        texts = [e.data["text"] for e in log if e.type == "message.sent" and e.actor != "bot"]
        if cid in talking:
            assert texts.count(f"from {customer.id} #0") == 1
            assert sorted(texts) == sorted(
                [f"from {customer.id} #{m}" for m in range(MESSAGES)]
                + [f"from {agent.id} to {customer.id} #{m}" for m in range(MESSAGES)]
            ), (cid, texts)
        else:
            assert texts == [] and log[-1].type == "conversation.closed"
        # The customer's socket: only its own conversation, every seq exactly once
        # (its own messages arrive in their acks, not as events).
        assert set(customer.events) == {cid}, (cid, set(customer.events))
        got = customer.seqs(cid) + customer.own[cid]
        assert sorted(got) == list(range(1, len(log) + 1)), (cid, got)
        assert customer.seqs(cid) == sorted(customer.seqs(cid))
        for other in customers:
            if other is not customer:
                assert cid not in other.events
                assert not [
                    d
                    for n, d in other.received
                    if isinstance(d, dict) and d.get("conversation_id") == cid
                ]

    for agent in agents:
        mine = {cid for cid, a in assigned.items() if a == agent.id}
        assert set(agent.events) == mine, (agent.id, set(agent.events), mine)
        for cid in mine:
            got = agent.seqs(cid) + agent.own[cid]
            log = await server.services.conversations.history(cid)
            until = len(log)
            if cid == freed_cid:  # the agent follows up to the switch away from them
                until = next(
                    e.seq for e in log if e.type == "handler.changed" and e.data["to"] == "none"
                )
            assert sorted(got) == list(range(1, until + 1)), (agent.id, cid, got)
        presence = server.services.router.presence_of(agent.id)
        assert presence is not None and presence.load <= CAPACITY
