"""Bad input: every mistake gets a clear error ack, changes nothing, and leaves the
connection usable. Bad tokens are refused at connect with a `connect_error`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import socketio

from tests.conftest import DATABASE_URL
from tests.e2e.harness import DEFAULT_TIMEOUT, Client, RunningServer
from tests.e2e.test_chat_flow import ready_agent, start
from tests.e2e.test_delivery import served_by_agent

MISSING = "c-0000000000000000000000000000dead"


def assert_error(ack: Any, code: str, *names: str) -> None:
    """`ack` is a failed ack with `code`, and its message names each of `names`."""
    assert isinstance(ack, dict), ack
    assert ack.get("ok") is False, ack
    assert set(ack) == {"ok", "error"}, ack
    assert ack["error"]["code"] == code, ack
    message = ack["error"]["message"]
    assert isinstance(message, str) and message, ack
    for name in names:
        assert name.lower() in message.lower(), (name, ack)


async def log_of(server: RunningServer, conversation_id: str) -> list[dict[str, Any]]:
    await server.settle()
    return [e.to_json() for e in await server.services.conversations.history(conversation_id)]


async def still_works(client: Client, conversation_id: str) -> None:
    """The connection answers a valid command after the bad one."""
    assert client.sio.connected
    ack = await client.call("resume", {"conversation_id": conversation_id, "after_seq": 0})
    assert ack["ok"] is True, ack
    assert ack["conversation_id"] == conversation_id


async def customer_with_conversation(
    server: RunningServer, clients: list[Client], name: str = "alice"
) -> tuple[Client, str]:
    customer = await server.client(name)
    clients.append(customer)
    return customer, await start(customer)


# -- payload shape -----------------------------------------------------------------------

NOT_OBJECTS: list[Any] = ["hello", ["a", "list"], 42, 4.5, True]

EVENTS = {
    "/customer": [
        "conversation.start",
        "message.send",
        "agent.request",
        "read",
        "typing",
        "resume",
    ],
    "/agent": [
        "presence.set",
        "offer.accept",
        "offer.decline",
        "message.send",
        "conversation.handback",
        "conversation.transfer",
        "conversation.close",
        "read",
        "typing",
        "resume",
    ],
    "/supervisor": ["resume", "queue.snapshot"],
}


async def test_payload_that_is_not_an_object_is_refused_on_every_command(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    anna = await server.client("anna")
    sara = await server.client("sara")
    clients += [anna, sara]
    before = await log_of(server, cid)
    by_namespace = {"/customer": alice, "/agent": anna, "/supervisor": sara}
    for namespace, events in EVENTS.items():
        client = by_namespace[namespace]
        for event in events:
            for payload in NOT_OBJECTS:
                ack = await client.call(event, payload)
                assert_error(ack, "invalid_payload", "JSON object")
            # Two arguments instead of one object.
            ack = await client.sio.call(
                event, ({"a": 1}, {"b": 2}), namespace=namespace, timeout=DEFAULT_TIMEOUT
            )
            assert_error(ack, "invalid_payload", "one JSON object")
    assert await log_of(server, cid) == before
    await still_works(alice, cid)
    assert (await anna.call("presence.set", {"status": "not_ready"}))["ok"]
    assert (await sara.call("queue.snapshot", {}))["ok"]


async def test_missing_fields_are_named(server: RunningServer, clients: list[Client]) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    cases: list[tuple[str, dict[str, Any], list[str]]] = [
        ("message.send", {"key": "k1", "conversation_id": cid}, ["text", "required"]),
        ("message.send", {"key": "k1", "text": "hi"}, ["conversation_id", "required"]),
        ("message.send", {"conversation_id": cid, "text": "hi"}, ["key", "required"]),
        ("message.send", {}, ["key", "conversation_id", "text"]),
        ("conversation.start", {}, ["key"]),
        ("agent.request", {"key": "k2"}, ["conversation_id"]),
        ("read", {"key": "k3", "conversation_id": cid}, ["up_to_seq"]),
        ("typing", {"conversation_id": cid}, ["active"]),
        ("resume", {"conversation_id": cid}, ["after_seq"]),
    ]
    for event, payload, names in cases:
        assert_error(await alice.call(event, payload), "invalid_payload", *names)
    # No payload at all is an empty object: every required field is missing.
    assert_error(await alice.call("message.send"), "invalid_payload", "key", "text")
    assert await log_of(server, cid) == before
    await still_works(alice, cid)


async def test_wrong_types_are_named(server: RunningServer, clients: list[Client]) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("message.send", {"key": "k", "conversation_id": cid, "text": 123}, "text"),
        ("message.send", {"key": "k", "conversation_id": cid, "text": ["hi"]}, "text"),
        ("message.send", {"key": "k", "conversation_id": cid, "text": None}, "text"),
        ("message.send", {"key": 7, "conversation_id": cid, "text": "hi"}, "key"),
        ("message.send", {"key": "k", "conversation_id": 12, "text": "hi"}, "conversation_id"),
        (
            "message.send",
            {"key": "k", "conversation_id": {"id": cid}, "text": "hi"},
            "conversation_id",
        ),
        (
            "message.send",
            {"key": "k", "conversation_id": "c" * 65, "text": "hi"},
            "conversation_id",
        ),
        ("read", {"key": "k", "conversation_id": cid, "up_to_seq": "abc"}, "up_to_seq"),
        ("read", {"key": "k", "conversation_id": cid, "up_to_seq": 1.5}, "up_to_seq"),
        ("read", {"key": "k", "conversation_id": cid, "up_to_seq": 0}, "up_to_seq"),
        ("read", {"key": "k", "conversation_id": cid, "up_to_seq": -3}, "up_to_seq"),
        ("typing", {"conversation_id": cid, "active": "maybe"}, "active"),
        ("resume", {"conversation_id": cid, "after_seq": -1}, "after_seq"),
        ("resume", {"conversation_id": cid, "after_seq": "zero"}, "after_seq"),
        ("conversation.start", {"key": "k", "channel": "call"}, "channel"),
        ("conversation.start", {"key": "k", "channel": 1}, "channel"),
        ("agent.request", {"key": "k", "conversation_id": cid, "reason": 5}, "reason"),
        ("agent.request", {"key": "k", "conversation_id": cid, "reason": "x" * 1001}, "reason"),
    ]
    for event, payload, name in cases:
        assert_error(await alice.call(event, payload), "invalid_payload", name)
    assert await log_of(server, cid) == before
    await still_works(alice, cid)


async def test_unknown_extra_fields_are_refused_not_ignored(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    ack = await alice.call(
        "message.send", {"key": "k1", "conversation_id": cid, "text": "hi", "colour": "red"}
    )
    assert_error(ack, "invalid_payload", "colour", "unknown field")
    ack = await alice.call("agent.request", {"key": "k2", "conversation_id": cid, "priority": 9})
    assert_error(ack, "invalid_payload", "priority", "unknown field")
    ack = await alice.call("resume", {"conversation_id": cid, "after_seq": 0, "limit": 5})
    assert_error(ack, "invalid_payload", "limit", "unknown field")
    assert await log_of(server, cid) == before
    # The refused keys were not used up: the same key now works.
    sent = await alice.call("message.send", {"key": "k1", "conversation_id": cid, "text": "hi"})
    assert sent["ok"] is True, sent
    after = await log_of(server, cid)
    assert after[: len(before)] == before
    assert after[len(before)]["data"]["text"] == "hi"


async def test_key_must_be_1_to_128_characters(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    for key in ("", "k" * 129, "k" * 1000):
        ack = await alice.call(
            "message.send", {"key": key, "conversation_id": cid, "text": "hello"}
        )
        assert_error(ack, "invalid_payload", "key")
        assert_error(await alice.call("conversation.start", {"key": key}), "invalid_payload", "key")
    assert await log_of(server, cid) == before
    # The boundary: exactly 128 characters is a fine key.
    ack = await alice.call(
        "message.send", {"key": "k" * 128, "conversation_id": cid, "text": "hello"}
    )
    assert ack["ok"] is True, ack


async def test_empty_or_blank_text_is_refused(server: RunningServer, clients: list[Client]) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    for text in ("", "   ", "\n\t "):
        ack = await alice.call(
            "message.send", {"key": f"k{len(text)}", "conversation_id": cid, "text": text}
        )
        assert_error(ack, "invalid_payload", "text")
    assert await log_of(server, cid) == before
    await still_works(alice, cid)


async def test_unknown_events_on_each_namespace(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    anna = await server.client("anna")
    sara = await server.client("sara")
    clients += [anna, sara]
    before = await log_of(server, cid)
    cases = [
        (
            alice,
            "/customer",
            [
                "conversation.delete",
                "offer.accept",
                "presence.set",
                "queue.snapshot",
                "conversation.close",
                "MESSAGE.SEND",
            ],
        ),
        (anna, "/agent", ["conversation.start", "agent.request", "queue.snapshot", "hello"]),
        (
            sara,
            "/supervisor",
            ["message.send", "read", "conversation.close", "offer.accept", "conversation.start"],
        ),
    ]
    for client, namespace, events in cases:
        for event in events:
            ack = await client.call(event, {"key": "k", "conversation_id": cid})
            assert_error(ack, "unknown_event", namespace, repr(event))
    assert await log_of(server, cid) == before
    await still_works(alice, cid)
    await still_works(sara, cid)
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]


def connections_of(server: RunningServer, agent_id: str) -> int:
    presence = server.services.router.presence_of(agent_id)
    return presence.connections if presence else 0


async def test_a_fake_connect_event_is_an_unknown_event(
    server: RunningServer, clients: list[Client]
) -> None:
    """A client may not call the server's own connect handler by sending an event named
    "connect": it is an unknown command, and the agent still has one connection."""
    anna = await ready_agent(server, clients, "anna")
    assert connections_of(server, "anna") == 1
    # As (environ, auth): the server's connect handler would count a second connection
    # that never closes, so the agent would never go offline.
    ack = await anna.sio.call(
        "connect", ({}, {"token": anna.token}), namespace="/agent", timeout=DEFAULT_TIMEOUT
    )
    follow_up = await anna.call("presence.set", {"status": "ready"})
    assert (ack, connections_of(server, "anna"), follow_up["ok"]) == (
        {
            "ok": False,
            "error": {"code": "unknown_event", "message": "/agent has no event 'connect'"},
        },
        1,
        True,
    )


async def test_a_fake_disconnect_event_is_an_unknown_event(
    server: RunningServer, clients: list[Client]
) -> None:
    """An event named "disconnect" must not run the server's disconnect handler: the agent
    would drop out of routing while the socket stays open."""
    anna = await ready_agent(server, clients, "anna")
    ack = await anna.call("disconnect", {"reason": "spoofed"})
    follow_up = await anna.call("presence.set", {"status": "ready"})
    assert (ack, connections_of(server, "anna"), follow_up) == (
        {
            "ok": False,
            "error": {"code": "unknown_event", "message": "/agent has no event 'disconnect'"},
        },
        1,
        follow_up | {"ok": True},
    )


async def test_text_longer_than_the_limit_is_message_too_long(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    ack = await alice.call(
        "message.send", {"key": "long", "conversation_id": cid, "text": "x" * 4001}
    )
    assert_error(ack, "message_too_long", "4001", "4000")
    assert await log_of(server, cid) == before
    # The limit itself is allowed, and the refused key is still free.
    ack = await alice.call(
        "message.send", {"key": "long", "conversation_id": cid, "text": "y" * 4000}
    )
    assert ack["ok"] is True, ack


async def test_configured_message_limit_applies_to_agents_too(
    server_factory: Any, clients: list[Client]
) -> None:
    server = await server_factory(max_message_chars=20)
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    ack = await anna.call("message.send", {"key": "a", "conversation_id": cid, "text": "z" * 21})
    assert_error(ack, "message_too_long", "20")
    ack = await alice.call("message.send", {"key": "b", "conversation_id": cid, "text": "z" * 21})
    assert_error(ack, "message_too_long", "20")
    assert await log_of(server, cid) == before
    assert (
        await anna.call("message.send", {"key": "c", "conversation_id": cid, "text": "z" * 20})
    )["ok"]


async def test_oversized_packet_closes_only_that_connection(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    bob, bob_cid = await customer_with_conversation(server, clients, "bob")
    before = await log_of(server, cid)
    limit = server.services.settings.max_packet_bytes
    assert limit == 65536
    payload = {"key": "huge", "conversation_id": cid, "text": "x" * (limit + 1000)}
    gone = asyncio.Event()
    alice.sio.on("disconnect", lambda *_: gone.set(), namespace="/customer")
    # No ack will come: the server drops the connection on reading the packet.
    await alice.sio.emit("message.send", payload, namespace="/customer")
    await asyncio.wait_for(gone.wait(), DEFAULT_TIMEOUT)
    assert not alice.sio.connected
    assert await log_of(server, cid) == before
    # The server and the other clients carry on.
    status, body = await server.get("/healthz")
    assert status == 200 and body == {"status": "ok"}
    sent = await bob.command("message.send", conversation_id=bob_cid, text="still here?")
    await bob.wait_event(bob_cid, lambda e: e["seq"] > sent["seq"] and e["actor"] == "bot")
    # The customer can connect again and resume.
    again = await server.client("alice")
    clients.append(again)
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": 0})
    assert ack["ok"] and ack["last_seq"] == before[-1]["seq"], ack


async def postgres_server(server_factory: Any, pg_schema: str) -> RunningServer:
    server: RunningServer = await server_factory(
        database_url=DATABASE_URL, database_schema=pg_schema, migrate_on_start=True
    )
    return server


async def nul_characters_are_refused(server: RunningServer, clients: list[Client]) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("message.send", {"key": "n1", "conversation_id": cid, "text": "pay\x00ment"}, "text"),
        ("message.send", {"key": "n\x002", "conversation_id": cid, "text": "hi"}, "key"),
        ("agent.request", {"key": "n3", "conversation_id": cid, "reason": "a\x00b"}, "reason"),
    ]
    for event, payload, name in cases:
        assert_error(await alice.call(event, payload), "invalid_payload", name)
    assert await log_of(server, cid) == before
    await still_works(alice, cid)


async def test_nul_characters_are_invalid_payload_in_memory(
    server: RunningServer, clients: list[Client]
) -> None:
    """PostgreSQL cannot store U+0000 (jsonb or text): a string holding one must be
    refused as invalid_payload by every store alike, never accepted in development and
    then an `internal` error in production."""
    await nul_characters_are_refused(server, clients)


async def test_nul_characters_are_invalid_payload_with_postgres(
    pg_schema: str, server_factory: Any, clients: list[Client]
) -> None:
    await nul_characters_are_refused(await postgres_server(server_factory, pg_schema), clients)


async def test_one_customers_bad_message_does_not_fail_everyone_elses(
    pg_schema: str, server_factory: Any, clients: list[Client]
) -> None:
    """With PostgreSQL, appends from many conversations share one batch (group commit). A
    message the database refuses must fail alone, not every append in its batch."""
    server = await postgres_server(server_factory, pg_schema)
    customers = list(await asyncio.gather(*(server.client(f"customer-nul-{i}") for i in range(8))))
    clients += customers
    cids = list(await asyncio.gather(*(start(c) for c in customers)))
    for round_ in range(3):
        acks = await asyncio.gather(
            *(
                c.call(
                    "message.send",
                    {
                        "key": f"r{round_}",
                        "conversation_id": cid,
                        "text": "bad \x00 byte" if i == 0 else f"hello {i}",
                    },
                )
                for i, (c, cid) in enumerate(zip(customers, cids, strict=True))
            )
        )
        assert acks[0]["ok"] is False, acks[0]
        assert [ack["ok"] for ack in acks[1:]] == [True] * 7, acks
    # And the sender of the bad message can carry on.
    ack = await customers[0].call(
        "message.send", {"key": "fine", "conversation_id": cids[0], "text": "sorry"}
    )
    assert ack["ok"] is True, ack


# -- conversations that do not exist or are not yours ------------------------------------


async def test_nonexistent_conversation_is_not_found(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    anna = await server.client("anna")
    sara = await server.client("sara")
    clients += [anna, sara]
    before = await log_of(server, cid)
    customer_cases: list[tuple[str, dict[str, Any]]] = [
        ("message.send", {"key": "k1", "conversation_id": MISSING, "text": "hi"}),
        ("agent.request", {"key": "k2", "conversation_id": MISSING}),
        ("read", {"key": "k3", "conversation_id": MISSING, "up_to_seq": 1}),
        ("typing", {"conversation_id": MISSING, "active": True}),
        ("resume", {"conversation_id": MISSING, "after_seq": 0}),
    ]
    for event, payload in customer_cases:
        assert_error(await alice.call(event, payload), "not_found", MISSING)
    agent_cases: list[tuple[str, dict[str, Any]]] = [
        ("message.send", {"key": "k1", "conversation_id": MISSING, "text": "hi"}),
        ("conversation.close", {"key": "k2", "conversation_id": MISSING}),
        ("conversation.handback", {"key": "k3", "conversation_id": MISSING}),
        ("conversation.transfer", {"key": "k4", "conversation_id": MISSING, "to_queue": "general"}),
        ("read", {"key": "k5", "conversation_id": MISSING, "up_to_seq": 1}),
        ("resume", {"conversation_id": MISSING, "after_seq": 0}),
        ("typing", {"conversation_id": MISSING, "active": False}),
    ]
    for event, payload in agent_cases:
        assert_error(await anna.call(event, payload), "not_found", MISSING)
    assert_error(
        await sara.call("resume", {"conversation_id": MISSING, "after_seq": 0}),
        "not_found",
        MISSING,
    )
    assert await log_of(server, cid) == before
    assert await server.services.conversations.state(MISSING) is None
    await still_works(alice, cid)
    await still_works(sara, cid)


async def test_customer_cannot_touch_another_customers_conversation(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    bob, bob_cid = await customer_with_conversation(server, clients, "bob")
    before = await log_of(server, cid)
    attacks: list[tuple[str, dict[str, Any]]] = [
        ("message.send", {"key": "x1", "conversation_id": cid, "text": "give me your money"}),
        ("resume", {"conversation_id": cid, "after_seq": 0}),
        ("read", {"key": "x2", "conversation_id": cid, "up_to_seq": 1}),
        ("agent.request", {"key": "x3", "conversation_id": cid}),
        ("typing", {"conversation_id": cid, "active": True}),
    ]
    for event, payload in attacks:
        ack = await bob.call(event, payload)
        # The same answer as for an id that does not exist: nothing is confirmed.
        assert_error(ack, "not_found", f"no conversation {cid}")
    assert await log_of(server, cid) == before
    # The victim keeps talking; the attacker hears nothing of it, not even typing.
    await alice.call("typing", {"conversation_id": cid, "active": True})
    sent = await alice.command("message.send", conversation_id=cid, text="my secret question")
    await alice.wait_event(cid, lambda e: e["seq"] > sent["seq"] and e["actor"] == "bot")
    await server.settle()
    assert bob.events.get(cid, []) == []
    assert not [
        d for _, d in bob.received if isinstance(d, dict) and d.get("conversation_id") == cid
    ]
    assert set(bob.events) == {bob_cid}
    await still_works(bob, bob_cid)


async def test_agent_cannot_act_on_a_conversation_not_assigned_to_them(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    ben = await ready_agent(server, clients, "ben")
    before = await log_of(server, cid)
    attacks: list[tuple[str, dict[str, Any]]] = [
        ("message.send", {"key": "b1", "conversation_id": cid, "text": "hi from ben"}),
        ("conversation.close", {"key": "b2", "conversation_id": cid}),
        ("conversation.handback", {"key": "b3", "conversation_id": cid}),
        ("conversation.transfer", {"key": "b4", "conversation_id": cid, "to_queue": "general"}),
        ("conversation.transfer", {"key": "b5", "conversation_id": cid, "to_agent": "ben"}),
        ("conversation.transfer", {"key": "b6", "conversation_id": cid, "to_agent": "anna"}),
        ("read", {"key": "b7", "conversation_id": cid, "up_to_seq": 1}),
        ("resume", {"conversation_id": cid, "after_seq": 0}),
        ("typing", {"conversation_id": cid, "active": True}),
    ]
    for event, payload in attacks:
        assert_error(await ben.call(event, payload), "forbidden", "not assigned to you")
    assert await log_of(server, cid) == before
    state = await server.services.conversations.state(cid)
    assert state is not None and state.handler == "agent:anna"
    anna_presence = server.services.router.presence_of("anna")
    ben_presence = server.services.router.presence_of("ben")
    assert anna_presence is not None and anna_presence.conversations == {cid}
    assert ben_presence is not None and ben_presence.load == 0
    sent = await anna.command("message.send", conversation_id=cid, text="only me")
    await alice.wait_event(cid, lambda e: e["seq"] == sent["seq"])
    await server.settle()
    assert ben.events.get(cid, []) == []
    assert (await ben.call("presence.set", {"status": "ready"}))["ok"]


async def test_agent_cannot_act_on_a_conversation_the_bot_serves(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    anna = await ready_agent(server, clients, "anna")
    before = await log_of(server, cid)
    for event, payload in [
        ("message.send", {"key": "a1", "conversation_id": cid, "text": "hi"}),
        ("conversation.close", {"key": "a2", "conversation_id": cid}),
        ("conversation.handback", {"key": "a3", "conversation_id": cid}),
        ("resume", {"conversation_id": cid, "after_seq": 0}),
    ]:
        assert_error(await anna.call(event, payload), "forbidden", cid)
    assert await log_of(server, cid) == before
    await still_works(alice, cid)


async def test_agent_cannot_accept_or_decline_someone_elses_offer(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    anna = await ready_agent(server, clients, "anna")
    ben = await server.client("ben")  # connected, not ready: the offer goes to anna
    clients.append(ben)
    await alice.command("agent.request", conversation_id=cid)
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    before = await log_of(server, cid)
    offer_id = offer["offer_id"]
    assert_error(
        await ben.call("offer.accept", {"key": "steal", "offer_id": offer_id}),
        "not_found",
        offer_id,
    )
    assert_error(await ben.call("offer.decline", {"offer_id": offer_id}), "not_found", offer_id)
    for bogus in ("o-nope", "x" * 64):
        assert_error(
            await anna.call("offer.accept", {"key": "k", "offer_id": bogus}), "not_found", bogus
        )
        assert_error(await anna.call("offer.decline", {"offer_id": bogus}), "not_found")
    assert_error(
        await anna.call("offer.accept", {"key": "k", "offer_id": "x" * 65}),
        "invalid_payload",
        "offer_id",
    )
    assert await log_of(server, cid) == before
    assert not [d for n, d in anna.received if n == "offer.withdrawn"]
    # The offer is still anna's to take.
    accepted = await anna.command("offer.accept", offer_id=offer_id)
    assert accepted["conversation_id"] == cid
    state = await server.services.conversations.state(cid)
    assert state is not None and state.handler == "agent:anna"


async def test_read_beyond_the_log_is_refused(server: RunningServer, clients: list[Client]) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    last = before[-1]["seq"]
    for client in (alice, anna):
        ack = await client.call("read", {"key": "r", "conversation_id": cid, "up_to_seq": last + 1})
        assert_error(ack, "invalid_payload", "up_to_seq", str(last))
        ack = await client.call("read", {"key": "r2", "conversation_id": cid, "up_to_seq": 10**9})
        assert_error(ack, "invalid_payload", "up_to_seq")
    assert await log_of(server, cid) == before
    ok = await alice.call("read", {"key": "r", "conversation_id": cid, "up_to_seq": last})
    assert ok["ok"] is True and ok["seq"] == last + 1, ok


async def test_resume_after_the_end_of_the_log_does_not_leave_the_client_deaf(
    server: RunningServer, clients: list[Client]
) -> None:
    """A client whose cursor is beyond the log (a bug, a stale cache, another
    conversation's seq) is either refused (invalid_payload, like `read`) or caught up to
    the real end; either way it must not be acked a seq that does not exist and then
    silently miss the next events."""
    _alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    last = before[-1]["seq"]
    again = await server.client("alice")
    clients.append(again)
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": last + 100})
    if ack["ok"]:
        assert ack["last_seq"] == last, ack
    else:
        assert_error(ack, "invalid_payload", "after_seq", str(last))
        ack = await again.call("resume", {"conversation_id": cid, "after_seq": last})
        assert ack == {"ok": True, "conversation_id": cid, "last_seq": last}, ack
    assert await log_of(server, cid) == before
    sent = await anna.command("message.send", conversation_id=cid, text="can you hear me?")
    await again.wait_event(cid, lambda e: e["seq"] == sent["seq"], timeout=2)


async def test_transfer_needs_exactly_one_target_that_is_online(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    both = {"key": "t1", "conversation_id": cid, "to_agent": "ben", "to_queue": "general"}
    assert_error(
        await anna.call("conversation.transfer", both), "invalid_payload", "to_agent", "to_queue"
    )
    neither = {"key": "t2", "conversation_id": cid, "note": "someone please"}
    assert_error(
        await anna.call("conversation.transfer", neither), "invalid_payload", "to_agent", "to_queue"
    )
    empty = {"key": "t3", "conversation_id": cid, "to_agent": ""}
    assert_error(await anna.call("conversation.transfer", empty), "invalid_payload", "to_agent")
    # ben exists but is not connected; "nobody" does not exist at all.
    for target in ("ben", "nobody"):
        offline = {"key": f"t-{target}", "conversation_id": cid, "to_agent": target}
        assert_error(await anna.call("conversation.transfer", offline), "not_found", target)
    to_self = {"key": "t4", "conversation_id": cid, "to_agent": "anna"}
    assert_error(await anna.call("conversation.transfer", to_self), "invalid_state", "yourself")
    assert await log_of(server, cid) == before
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.conversations == {cid}
    sent = await anna.command("message.send", conversation_id=cid, text="still yours truly")
    await alice.wait_event(cid, lambda e: e["seq"] == sent["seq"])


async def test_presence_set_with_a_bad_status(server: RunningServer, clients: list[Client]) -> None:
    anna = await server.client("anna")
    clients.append(anna)
    for status in ("busy", "wrap_up", "offline", "away", "READY", "", 1, None, ["ready"]):
        ack = await anna.call("presence.set", {"status": status})
        assert_error(ack, "invalid_payload", "status")
    assert_error(await anna.call("presence.set", {}), "invalid_payload", "status")
    assert_error(
        await anna.call("presence.set", {"status": "ready", "load": 0}),
        "invalid_payload",
        "load",
        "unknown field",
    )
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.chosen == "not_ready"
    ack = await anna.call("presence.set", {"status": "ready"})
    assert ack["ok"] is True and ack["status"] == "ready", ack


# -- refused connections -----------------------------------------------------------------


async def refused(
    server: RunningServer, namespace: str, auth: Any, wait_timeout: float = DEFAULT_TIMEOUT
) -> dict[str, Any]:
    """Connect with `auth`; assert the connection is refused; the connect_error data.

    python-socketio's AsyncClient raises `socketio.exceptions.ConnectionError("One or
    more namespaces failed to connect: ...")`, which carries no data; the server's
    refusal reaches the namespace's `connect_error` handler."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    sio.on("connect_error", lambda data=None: errors.append(data), namespace=namespace)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError) as raised:
            await sio.connect(
                server.url,
                namespaces=[namespace],
                transports=["websocket"],
                auth=auth,
                wait_timeout=wait_timeout,
            )
    finally:
        await sio.disconnect()
    assert namespace in str(raised.value)
    assert len(errors) == 1, errors
    # On the wire: {message, data: {code, message}} (the JS client's err.message, err.data).
    error = errors[0]
    assert isinstance(error, dict) and set(error) == {"message", "data"}, error
    data = error["data"]
    assert isinstance(data, dict) and set(data) == {"code", "message"}, error
    assert data["message"] == error["message"], error
    return dict(data)


def mint(secret: str, **claims: Any) -> str:
    body: dict[str, Any] = {
        "sub": "alice",
        "role": "customer",
        "name": "Alice",
        "exp": datetime.now(UTC) + timedelta(minutes=5),
    }
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret, algorithm="HS256")


async def test_connecting_without_a_valid_token_is_unauthorized(
    server: RunningServer, clients: list[Client]
) -> None:
    secret = server.services.settings.jwt_secret
    assert secret is not None
    past = datetime.now(UTC) - timedelta(minutes=1)
    cases: list[tuple[Any, str]] = [
        (None, "token"),
        ({}, "token"),
        ({"token": ""}, "token"),
        ({"token": 12345}, "token"),
        ({"token": "not-a-jwt"}, "invalid token"),
        ({"token": mint("another-secret-of-at-least-32-characters!")}, "signature"),
        ({"token": mint(secret, exp=past)}, "expired"),
        ({"token": mint(secret, role="admin")}, "role"),
        ({"token": mint(secret, role=None)}, "role"),
        ({"token": mint(secret, sub=None)}, "sub"),
        ({"token": mint(secret, exp=None)}, "exp"),
        (
            {
                "token": jwt.encode(
                    {"sub": "alice", "role": "customer", "exp": 4102444800}, "", algorithm="none"
                )
            },
            "invalid token",
        ),
    ]
    for auth, words in cases:
        data = await refused(server, "/customer", auth)
        assert data["code"] == "unauthorized", (auth, data)
        assert words.lower() in data["message"].lower(), (auth, data)
    # Refusals leave the server as it was: a good token still connects.
    alice = await server.client("alice")
    clients.append(alice)
    assert alice.sio.connected


async def test_a_token_whose_role_is_a_list_is_refused_at_once(server: RunningServer) -> None:
    """Identity providers often send roles as arrays: the connection must be refused as
    unauthorized, not left hanging while the connect handler dies with a TypeError."""
    secret = server.services.settings.jwt_secret
    assert secret is not None
    token = mint(secret, role=["customer"])
    data = await refused(server, "/customer", {"token": token}, wait_timeout=2)
    assert data["code"] == "unauthorized" and "role" in data["message"], data


async def test_token_for_another_role_is_forbidden(
    server: RunningServer, clients: list[Client]
) -> None:
    tokens = {name: (await server.login(name))["token"] for name in ("alice", "anna", "sara")}
    wrong = [
        ("alice", "/agent"),
        ("alice", "/supervisor"),
        ("anna", "/customer"),
        ("anna", "/supervisor"),
        ("sara", "/customer"),
        ("sara", "/agent"),
    ]
    for name, namespace in wrong:
        data = await refused(server, namespace, {"token": tokens[name]})
        assert data["code"] == "forbidden", (name, namespace, data)
        assert namespace in data["message"], data
    # A customer refused on /agent did not become an agent anywhere.
    assert server.services.router.presence_of("alice") is None
    assert server.services.router.presence_of("sara") is None
