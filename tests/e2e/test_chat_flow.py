"""The whole text-chat slice through real socket.io clients: bot -> agent -> bot."""

from __future__ import annotations

from typing import Any

from tests.e2e.harness import Client, RunningServer


def bot_messages(client: Client, conversation_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in client.events[conversation_id]
        if e["type"] == "message.sent" and e["actor"] == "bot"
    ]


async def start(customer: Client) -> str:
    ack = await customer.command("conversation.start")
    assert ack["created"] is True
    conversation_id = str(ack["conversation_id"])
    await customer.wait_event(conversation_id, lambda e: e["data"].get("kind") == "greeting")
    return conversation_id


async def ready_agent(server: RunningServer, clients: list[Client], name: str) -> Client:
    agent = await server.client(name)
    clients.append(agent)
    ack = await agent.call("presence.set", {"status": "ready"})
    assert ack["ok"] and ack["status"] == "ready", ack
    return agent


async def test_bot_then_agent_then_bot_in_one_conversation(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)

    # The bot answers a knowledge question.
    asked = await alice.command(
        "message.send", conversation_id=cid, text="What time do your branches open on Saturday?"
    )
    answer = await alice.wait_event(cid, lambda e: e["actor"] == "bot" and e["seq"] > asked["seq"])
    assert answer["data"]["kind"] == "answer", answer
    assert "hour" in answer["data"]["text"].lower() or "open" in answer["data"]["text"].lower()

    # The customer asks for a person; an agent is offered the conversation with context.
    anna = await ready_agent(server, clients, "anna")
    await alice.command(
        "message.send", conversation_id=cid, text="I would like to talk to a real person please"
    )
    await alice.wait_event(
        cid, lambda e: e["type"] == "handler.changed" and e["data"]["to"] == "queue"
    )
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    assert offer["customer"] == {"id": "alice", "name": "Alice Martin"}
    context = offer["context"]
    assert context["summary"]
    assert any("Saturday" in line["text"] for line in context["transcript"])
    position = await alice.wait_for("queue.position", lambda p: p["conversation_id"] == cid)
    assert position["position"] == 1 and position["estimated_wait_seconds"] > 0

    accepted = await anna.command("offer.accept", offer_id=offer["offer_id"])
    assert accepted["conversation_id"] == cid
    switch = await alice.wait_event(
        cid, lambda e: e["type"] == "handler.changed" and e["data"]["to"] == "agent:anna"
    )
    assert switch["data"]["from"] == "queue" and switch["data"]["reason"] == "assigned"
    # The agent's socket now follows the conversation from its first event.
    await anna.wait_event(cid, lambda e: e["seq"] == switch["seq"])
    assert anna.seqs(cid) == list(range(1, switch["seq"] + 1))
    assigned = await anna.wait_for("assigned", lambda a: a["conversation_id"] == cid)
    assert assigned["context"]["summary"] == context["summary"]

    # Both chat; nobody else answers while the agent serves.
    hello = await anna.command("message.send", conversation_id=cid, text="Hi Alice, Anna here.")
    await alice.wait_event(cid, lambda e: e["seq"] == hello["seq"] and e["actor"] == "agent:anna")
    reply = await alice.command("message.send", conversation_id=cid, text="Thanks Anna!")
    await anna.wait_event(cid, lambda e: e["seq"] == reply["seq"])
    await server.settle()
    assert not [m for m in bot_messages(alice, cid) if m["seq"] > switch["seq"]]

    # Hand back: the bot greets the customer again and answers the next question.
    back = await anna.command("conversation.handback", conversation_id=cid, note="done")
    await alice.wait_event(cid, lambda e: e["seq"] > back["seq"] and e["actor"] == "bot")
    unassigned = await anna.wait_for("unassigned", lambda u: u["conversation_id"] == cid)
    assert unassigned["last_seq"] == back["seq"]
    question = await alice.command(
        "message.send", conversation_id=cid, text="How do I reset my mobile banking password?"
    )
    again = await alice.wait_event(
        cid, lambda e: e["actor"] == "bot" and e["seq"] > question["seq"]
    )
    assert again["data"]["kind"] in ("answer", "clarify")

    # One conversation, one continuous seq, every event in the log, seen by the customer.
    await server.settle()
    status, body = await server.get(f"/api/v1/conversations/{cid}/events", alice.login["token"])
    assert status == 200
    log = body["events"]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert alice.known(cid) == [e["seq"] for e in log]
    handlers = [(e["data"]["from"], e["data"]["to"]) for e in log if e["type"] == "handler.changed"]
    assert handlers == [
        ("none", "bot"),
        ("bot", "queue"),
        ("queue", "agent:anna"),
        ("agent:anna", "bot"),
    ]
    # The agent saw everything up to the hand-back and nothing after it.
    assert anna.known(cid) == list(range(1, back["seq"] + 1))
    conversations = await server.get("/api/v1/conversations?customer_id=alice", anna.login["token"])
    assert [c["id"] for c in conversations[1]["conversations"]] == [cid]


async def test_agent_closes_and_the_customer_starts_anew(
    server: RunningServer, clients: list[Client]
) -> None:
    bob = await server.client("bob")
    clients.append(bob)
    cid = await start(bob)
    ben = await ready_agent(server, clients, "ben")
    await bob.command("agent.request", conversation_id=cid, reason="mortgage question")
    offer = await ben.wait_for("offer", lambda o: o["conversation_id"] == cid)
    assert offer["context"]["note"] == "mortgage question"
    await ben.command("offer.accept", offer_id=offer["offer_id"])
    closed = await ben.command("conversation.close", conversation_id=cid, reason="resolved")
    event = await bob.wait_event(cid, lambda e: e["type"] == "conversation.closed")
    assert event["seq"] == closed["seq"]
    refused = await bob.call("message.send", {"key": "late", "conversation_id": cid, "text": "hi"})
    assert refused["error"]["code"] == "conversation_closed"
    fresh = await bob.command("conversation.start")
    assert fresh["created"] is True and fresh["conversation_id"] != cid
