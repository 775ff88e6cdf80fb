"""Delivery guarantees: acks with seq, idempotent retries, resume after a cut transport."""

from __future__ import annotations

import asyncio

from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_chat_flow import ready_agent, start


async def served_by_agent(
    server: RunningServer, clients: list[Client], customer: str, agent: str
) -> tuple[Client, Client, str]:
    cust = await server.client(customer)
    clients.append(cust)
    cid = await start(cust)
    ag = await ready_agent(server, clients, agent)
    await cust.command("agent.request", conversation_id=cid)
    offer = await ag.wait_for("offer", lambda o: o["conversation_id"] == cid)
    await ag.command("offer.accept", offer_id=offer["offer_id"])
    await cust.wait_event(cid, lambda e: e["data"].get("to") == f"agent:{agent}")
    return cust, ag, cid


async def test_cut_transport_then_resume_gets_all_100_exactly_once_in_order(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    seen = max(alice.seqs(cid))

    # Cut the customer's transport under socket.io: no goodbye, no disconnect packet.
    await alice.sio.eio.ws.close()
    sent = [
        (await anna.command("message.send", conversation_id=cid, text=f"agent message {i}"))["seq"]
        for i in range(100)
    ]
    assert sent == list(range(seen + 1, seen + 101))

    again = await server.client("alice")
    clients.append(again)
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": seen})
    assert ack == {"ok": True, "conversation_id": cid, "last_seq": sent[-1]}
    texts = [e["data"]["text"] for e in again.events[cid]]
    assert texts == [f"agent message {i}" for i in range(100)]
    assert again.seqs(cid) == sent

    # Live events keep flowing after the resume, still without duplicates.
    more = await anna.command("message.send", conversation_id=cid, text="still there?")
    await again.wait_event(cid, lambda e: e["seq"] == more["seq"])
    assert again.seqs(cid) == [*sent, more["seq"]]


async def test_resume_while_messages_are_arriving_has_no_gap_or_duplicate(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    seen = max(alice.seqs(cid))
    await alice.close()

    async def talk() -> list[int]:
        return [
            (await anna.command("message.send", conversation_id=cid, text=f"m{i}"))["seq"]
            for i in range(60)
        ]

    again = await server.client("alice")
    clients.append(again)
    talking = asyncio.create_task(talk())
    await asyncio.sleep(0.02)
    await again.call("resume", {"conversation_id": cid, "after_seq": seen})
    sent = await talking
    await again.wait_event(cid, lambda e: e["seq"] == sent[-1])
    assert again.seqs(cid) == list(range(seen + 1, sent[-1] + 1))


async def test_retried_keys_are_not_duplicated(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    first_start = await alice.call("conversation.start", {"key": "start-1"})
    cid = first_start["conversation_id"]
    assert await alice.call("conversation.start", {"key": "start-1"}) == {
        **first_start,
        "created": first_start["created"],
    }

    payload = {"key": "msg-1", "conversation_id": cid, "text": "Is my card blocked?"}
    acks = [await alice.call("message.send", payload) for _ in range(3)]
    acks += await asyncio.gather(*(alice.call("message.send", payload) for _ in range(3)))
    assert all(ack == acks[0] for ack in acks), acks
    await server.settle()
    log = await server.services.conversations.history(cid)
    assert [e.data.get("text") for e in log].count("Is my card blocked?") == 1

    # The same key from another customer is another command: keys are per sender.
    bob = await server.client("bob")
    clients.append(bob)
    bob_start = await bob.call("conversation.start", {"key": "start-1"})
    assert bob_start["ok"] and bob_start["conversation_id"] != cid


async def test_accept_retry_returns_the_same_ack(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    anna = await ready_agent(server, clients, "anna")
    await alice.command("agent.request", conversation_id=cid)
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    payload = {"key": "accept-1", "offer_id": offer["offer_id"]}
    first = await anna.call("offer.accept", payload)
    assert first["ok"]
    assert await anna.call("offer.accept", payload) == first
    other = await anna.call("offer.accept", {"key": "accept-2", "offer_id": offer["offer_id"]})
    assert other["error"]["code"] == "not_found"
    log = await server.services.conversations.history(cid)
    assert [e.data.get("to") for e in log if e.type == "handler.changed"].count("agent:anna") == 1


async def test_typing_is_ephemeral_and_read_receipts_are_logged(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = (await server.services.conversations.state(cid)).last_seq  # type: ignore[union-attr]
    assert (await alice.call("typing", {"conversation_id": cid, "active": True}))["ok"]
    typing = await anna.wait_for("typing", lambda t: t["conversation_id"] == cid)
    assert typing == {"conversation_id": cid, "actor": "customer:alice", "active": True}
    assert (await server.services.conversations.state(cid)).last_seq == before  # type: ignore[union-attr]

    hello = await anna.command("message.send", conversation_id=cid, text="Hello")
    read = await alice.command("read", conversation_id=cid, up_to_seq=hello["seq"])
    receipt = await anna.wait_event(cid, lambda e: e["seq"] == read["seq"])
    assert receipt["type"] == "message.read" and receipt["data"] == {"up_to_seq": hello["seq"]}
    # Reading the same again appends nothing.
    again = await alice.command("read", conversation_id=cid, up_to_seq=hello["seq"])
    assert "seq" not in again


async def test_own_message_comes_in_the_ack_and_reaches_the_other_tabs(
    server: RunningServer, clients: list[Client]
) -> None:
    tab1, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    tab2 = await server.client("alice")
    clients.append(tab2)
    await tab2.call("resume", {"conversation_id": cid, "after_seq": max(tab1.seqs(cid))})
    ack = await tab1.command("message.send", conversation_id=cid, text="from tab one")
    assert ack["seqs"] == [ack["seq"]] and ack["at"]
    mine = await tab2.wait_event(cid, lambda e: e["seq"] == ack["seq"])
    assert mine["data"]["text"] == "from tab one" and mine["at"] == ack["at"]
    await anna.wait_event(cid, lambda e: e["seq"] == ack["seq"])
    reply = await anna.command("message.send", conversation_id=cid, text="hello both")
    await tab1.wait_event(cid, lambda e: e["seq"] == reply["seq"])
    assert ack["seq"] not in tab1.seqs(cid)
    assert tab1.known(cid) == list(range(1, reply["seq"] + 1))
