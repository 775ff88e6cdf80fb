"""Routing through the real server: offer timeouts, transfers, queue positions, lost agents."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client
from tests.e2e.test_chat_flow import ready_agent, start
from tests.e2e.test_delivery import served_by_agent


async def test_unanswered_offer_goes_to_the_next_agent(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(offer_timeout_seconds=0.4)
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    anna = await ready_agent(server, clients, "anna")
    await alice.command("agent.request", conversation_id=cid)
    first = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    assert first["timeout_seconds"] == 0.4
    ben = await ready_agent(server, clients, "ben")  # ready while anna's offer is pending

    withdrawn = await anna.wait_for("offer.withdrawn", lambda w: w["offer_id"] == first["offer_id"])
    assert withdrawn["reason"] == "timeout"
    second = await ben.wait_for("offer", lambda o: o["conversation_id"] == cid)
    await anna.wait_for("presence", lambda p: p["status"] == "not_ready")
    late = await anna.call("offer.accept", {"key": "late", "offer_id": first["offer_id"]})
    assert late["error"]["code"] == "not_found"
    await ben.command("offer.accept", offer_id=second["offer_id"])
    await alice.wait_event(cid, lambda e: e["data"].get("to") == "agent:ben")


async def test_transfer_to_an_agent_then_to_a_queue(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory()
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    ben = await ready_agent(server, clients, "ben")
    await anna.command("message.send", conversation_id=cid, text="Let me get a specialist.")
    moved = await anna.command(
        "conversation.transfer", conversation_id=cid, to_agent="ben", note="FX specialist"
    )
    assigned = await ben.wait_for("assigned", lambda a: a["conversation_id"] == cid)
    assert assigned["context"]["note"] == "FX specialist"
    await anna.wait_for("unassigned", lambda u: u["conversation_id"] == cid)
    # Anna no longer may write; Ben follows from the start after resuming.
    refused = await anna.call(
        "message.send", {"key": "x", "conversation_id": cid, "text": "still me"}
    )
    assert refused["error"]["code"] == "forbidden"
    ack = await ben.call("resume", {"conversation_id": cid, "after_seq": 0})
    assert ack["last_seq"] == moved["seq"]
    assert ben.seqs(cid) == list(range(1, moved["seq"] + 1))

    # Ben sends it to the queue: Anna (ready, with room) is offered it, not Ben again.
    await ben.command("conversation.transfer", conversation_id=cid, to_queue="cards")
    offer = await anna.wait_for(
        "offer", lambda o: o["conversation_id"] == cid and o["context"].get("queue") == "cards"
    )
    assert "Transferred" in offer["context"]["summary"]
    assert {"actor": "agent:anna", "text": "Let me get a specialist."} in offer["context"][
        "transcript"
    ]
    assert not [o for name, o in ben.received if name == "offer"]
    await alice.wait_event(cid, lambda e: e["data"].get("to") == "queue")


async def test_queue_positions_and_estimates_follow_the_queue(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(average_handle_seconds=120)
    waiting: list[tuple[Client, str]] = []
    for name in ("alice", "bob", "chen"):
        customer = await server.client(name)
        clients.append(customer)
        cid = await start(customer)
        await customer.command("agent.request", conversation_id=cid)
        waiting.append((customer, cid))
    positions = [
        (await c.wait_for("queue.position", lambda p, cid=cid: p["conversation_id"] == cid))
        for c, cid in waiting
    ]
    assert [p["position"] for p in positions] == [1, 2, 3]
    assert positions[0]["estimated_wait_seconds"] < positions[2]["estimated_wait_seconds"]

    anna = await ready_agent(server, clients, "anna")
    offer = await anna.wait_for("offer")
    assert offer["conversation_id"] == waiting[0][1]
    await anna.command("offer.accept", offer_id=offer["offer_id"])
    chen, chen_cid = waiting[2]
    await chen.wait_for(
        "queue.position", lambda p: p["conversation_id"] == chen_cid and p["position"] == 2
    )


async def test_lost_agent_conversations_return_to_the_queue(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(agent_lost_grace_seconds=0.3)
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    await anna.close()
    switch = await alice.wait_event(
        cid, lambda e: e["data"].get("from") == "agent:anna" and e["data"].get("to") == "queue"
    )
    assert switch["data"]["reason"] == "transfer"
    assert switch["data"]["context"]["reason"] == "agent_lost"
    ben = await ready_agent(server, clients, "ben")
    offer = await ben.wait_for("offer", lambda o: o["conversation_id"] == cid)
    assert offer["context"]["reason"] == "agent_lost"
    assert "lost their connection" in offer["context"]["summary"]


async def test_an_agent_tab_is_told_its_presence_once_per_change(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory()
    tab1 = await server.client("anna")
    clients.append(tab1)
    first = await tab1.wait_for("presence")
    assert first["status"] == "not_ready" and first["capacity"] == 3
    await server.settle()
    tab2 = await server.client("anna")
    clients.append(tab2)
    await tab2.wait_for("presence")
    assert (await tab1.call("presence.set", {"status": "ready"}))["ok"]
    await tab2.wait_for("presence", lambda p: p["status"] == "ready")
    await server.settle()
    statuses = [p["status"] for name, p in tab1.received if name == "presence"]
    assert statuses == ["not_ready", "not_ready", "ready"]  # connect, second tab, change


async def test_a_blip_keeps_ready_but_a_long_absence_does_not(
    server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(agent_lost_grace_seconds=0.3)
    anna = await ready_agent(server, clients, "anna")
    await anna.close()
    back = await server.client("anna")
    clients.append(back)
    assert (await back.wait_for("presence"))["status"] == "ready"
    await back.close()
    await asyncio.sleep(0.5)
    later = await server.client("anna")
    clients.append(later)
    assert (await later.wait_for("presence"))["status"] == "not_ready"
