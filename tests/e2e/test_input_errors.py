"""Bad input gets a clear error and changes nothing: payloads, events, ids, rights, tokens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import socketio

from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_chat_flow import ready_agent, start
from tests.e2e.test_delivery import served_by_agent


async def log_of(server: RunningServer, cid: str) -> list[dict[str, Any]]:
    return [e.to_json() for e in await server.services.conversations.history(cid)]


def refused(ack: Any, code: str, *words: str) -> None:
    assert ack["ok"] is False, ack
    assert ack["error"]["code"] == code, ack
    for word in words:
        assert word in ack["error"]["message"], ack


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        ("just text", "invalid_payload", ("JSON object",)),
        ([1, 2], "invalid_payload", ("JSON object",)),
        (42, "invalid_payload", ("JSON object",)),
        ({}, "invalid_payload", ("key", "conversation_id", "text")),
        ({"key": "k", "conversation_id": "c", "text": 7}, "invalid_payload", ("text",)),
        ({"key": "", "conversation_id": "c", "text": "hi"}, "invalid_payload", ("key",)),
        ({"key": "k" * 129, "conversation_id": "c", "text": "hi"}, "invalid_payload", ("key",)),
        ({"key": "k", "conversation_id": "c", "text": ""}, "invalid_payload", ("text",)),
        (
            {"key": "k", "conversation_id": "c", "text": "hi", "admin": True},
            "invalid_payload",
            ("admin", "unknown field"),
        ),
    ],
)
async def test_malformed_message_payloads(
    server: RunningServer, clients: list[Client], payload: Any, code: str, words: tuple[str, ...]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    before = await log_of(server, cid)
    if isinstance(payload, dict) and payload.get("conversation_id") == "c":
        payload = {**payload, "conversation_id": cid}
    refused(await alice.call("message.send", payload), code, *words)
    assert await log_of(server, cid) == before
    # The connection still works afterwards.
    await alice.command("message.send", conversation_id=cid, text="still here")


async def test_oversized_text_and_packet(server: RunningServer, clients: list[Client]) -> None:
    alice = await server.client("alice")
    bob = await server.client("bob")
    clients.extend([alice, bob])
    cid = await start(alice)
    before = await log_of(server, cid)
    long = await alice.call(
        "message.send", {"key": "k", "conversation_id": cid, "text": "x" * 4001}
    )
    refused(long, "message_too_long", "4001", "4000")
    assert await log_of(server, cid) == before

    # A packet above the limit closes that connection only.
    closed = asyncio.Event()
    alice.sio.on("disconnect", lambda *a: closed.set(), namespace="/customer")
    await alice.sio.emit(
        "message.send",
        {"key": "big", "conversation_id": cid, "text": "y" * 70_000},
        namespace="/customer",
    )
    await asyncio.wait_for(closed.wait(), 5)
    assert await log_of(server, cid) == before
    bob_cid = await start(bob)
    await bob.command("message.send", conversation_id=bob_cid, text="unaffected")


@pytest.mark.parametrize("role", ["alice", "anna", "sara"])
async def test_unknown_events_are_named(
    server: RunningServer, clients: list[Client], role: str
) -> None:
    client = await server.client(role)
    clients.append(client)
    refused(
        await client.call("conversation.delete", {"conversation_id": "x"}),
        "unknown_event",
        "conversation.delete",
    )
    refused(
        await client.call(
            "message.send",
            {"a": 1},
        ),
        "invalid_payload" if role != "sara" else "unknown_event",
    )


async def test_wrong_and_foreign_conversations(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    bob = await server.client("bob")
    clients.extend([alice, bob])
    cid = await start(alice)
    await start(bob)
    before = await log_of(server, cid)
    for target in ("c-does-not-exist", cid):
        refused(
            await bob.call("message.send", {"key": "k1", "conversation_id": target, "text": "hi"}),
            "not_found",
        )
        refused(await bob.call("resume", {"conversation_id": target, "after_seq": 0}), "not_found")
        refused(
            await bob.call("read", {"key": "k2", "conversation_id": target, "up_to_seq": 1}),
            "not_found",
        )
        refused(
            await bob.call("agent.request", {"key": "k3", "conversation_id": target}), "not_found"
        )
        refused(await bob.call("typing", {"conversation_id": target, "active": True}), "not_found")
    # Same answer for a missing and a foreign id: nothing confirms that alice's exists.
    missing = await bob.call("resume", {"conversation_id": "c-nope", "after_seq": 0})
    foreign = await bob.call("resume", {"conversation_id": cid, "after_seq": 0})
    assert missing["error"]["message"].replace("c-nope", "X") == foreign["error"][
        "message"
    ].replace(cid, "X")
    await alice.command("message.send", conversation_id=cid, text="private")
    await server.settle()
    assert cid not in bob.events
    assert (await log_of(server, cid))[: len(before)] == before
    refused(
        await alice.call("read", {"key": "r", "conversation_id": cid, "up_to_seq": 999}),
        "invalid_payload",
        "up_to_seq",
    )


async def test_agents_act_only_on_their_own_conversations(
    server: RunningServer, clients: list[Client]
) -> None:
    _alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    ben = await ready_agent(server, clients, "ben")
    before = await log_of(server, cid)
    for event, extra in [
        ("message.send", {"text": "hijack"}),
        ("conversation.close", {}),
        ("conversation.handback", {}),
        ("conversation.transfer", {"to_queue": "general"}),
        ("read", {"up_to_seq": 1}),
    ]:
        refused(
            await ben.call(event, {"key": f"k-{event}", "conversation_id": cid, **extra}),
            "forbidden",
        )
    refused(await ben.call("resume", {"conversation_id": cid, "after_seq": 0}), "forbidden")
    assert await log_of(server, cid) == before
    assert cid not in ben.events

    refused(
        await anna.call(
            "conversation.transfer",
            {"key": "t1", "conversation_id": cid, "to_agent": "ben", "to_queue": "x"},
        ),
        "invalid_payload",
        "exactly one",
    )
    refused(
        await anna.call("conversation.transfer", {"key": "t2", "conversation_id": cid}),
        "invalid_payload",
        "exactly one",
    )
    refused(
        await anna.call(
            "conversation.transfer", {"key": "t3", "conversation_id": cid, "to_agent": "nobody"}
        ),
        "not_found",
        "not online",
    )
    refused(await anna.call("presence.set", {"status": "sleeping"}), "invalid_payload", "status")
    refused(await anna.call("offer.accept", {"key": "a", "offer_id": "o-made-up"}), "not_found")
    assert await log_of(server, cid) == before


async def test_an_agent_cannot_take_another_agents_offer(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    anna = await ready_agent(server, clients, "anna")
    ben = await server.client("ben")  # not ready: gets no offer
    clients.append(ben)
    await alice.command("agent.request", conversation_id=cid)
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    refused(
        await ben.call("offer.accept", {"key": "steal", "offer_id": offer["offer_id"]}), "not_found"
    )
    refused(await ben.call("offer.decline", {"offer_id": offer["offer_id"]}), "not_found")
    await anna.command("offer.accept", offer_id=offer["offer_id"])


async def connect_error(server: RunningServer, namespace: str, auth: Any) -> dict[str, Any]:
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    sio.on("connect_error", lambda data=None: errors.append(data), namespace=namespace)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            server.url, namespaces=[namespace], transports=["websocket"], auth=auth, wait_timeout=5
        )
    await sio.disconnect()
    assert errors, "the server must say why"
    data = dict(errors[0]["data"])
    assert errors[0]["message"] == data["message"]
    return data


async def test_bad_tokens_are_refused_with_a_reason(server: RunningServer) -> None:
    secret = server.services.settings.jwt_secret
    assert secret
    now = datetime.now(UTC)
    expired = jwt.encode(
        {"sub": "alice", "role": "customer", "exp": now - timedelta(minutes=1)},
        secret,
        algorithm="HS256",
    )
    forged = jwt.encode(
        {"sub": "alice", "role": "customer", "exp": now + timedelta(hours=1)},
        "another-secret-another-secret-another",
        algorithm="HS256",
    )
    no_role = jwt.encode(
        {"sub": "alice", "exp": now + timedelta(hours=1)}, secret, algorithm="HS256"
    )
    cases = [
        (None, "unauthorized", "required"),
        ({"token": ""}, "unauthorized", "required"),
        ({"token": "not.a.jwt"}, "unauthorized", "invalid token"),
        ({"token": expired}, "unauthorized", "expired"),
        ({"token": forged}, "unauthorized", "invalid token"),
        ({"token": no_role}, "unauthorized", "role"),
    ]
    for auth, code, words in cases:
        error = await connect_error(server, "/customer", auth)
        assert error["code"] == code, (auth, error)
        assert words in error["message"], (auth, error)
    customer = (await server.login("alice"))["token"]
    error = await connect_error(server, "/agent", {"token": customer})
    assert error["code"] == "forbidden"
    agent = (await server.login("anna"))["token"]
    error = await connect_error(server, "/supervisor", {"token": agent})
    assert error["code"] == "forbidden"


@pytest.mark.parametrize("name", ["connect", "disconnect"])
async def test_events_named_like_the_lifecycle_are_just_unknown(
    server: RunningServer, clients: list[Client], name: str
) -> None:
    anna = await server.client("anna")
    clients.append(anna)
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
    # A raw client can send these names as ordinary events: they must log nobody out.
    refused(await anna.call(name, {"token": "x"}), "unknown_event", name)
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.connections == 1
    assert (await anna.call("presence.set", {"status": "not_ready"}))["ok"]
