"""Bad input: every mistake gets a clear error ack, changes nothing, and leaves the
connection usable. Bad tokens are refused at connect with a `connect_error`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import socketio

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
    "/customer": ["conversation.start", "message.send", "agent.request", "read", "typing",
                  "resume"],
    "/agent": ["presence.set", "offer.accept", "offer.decline", "message.send",
               "conversation.handback", "conversation.transfer", "conversation.close", "read",
               "typing", "resume"],
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
            ack = await client.sio.call(event, ({"a": 1}, {"b": 2}), namespace=namespace,
                                        timeout=DEFAULT_TIMEOUT)
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
        ("message.send", {"key": "k", "conversation_id": {"id": cid}, "text": "hi"},
         "conversation_id"),
        ("message.send", {"key": "k", "conversation_id": "c" * 65, "text": "hi"},
         "conversation_id"),
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
    ack = await alice.call("message.send", {"key": "k1", "conversation_id": cid, "text": "hi",
                                            "colour": "red"})
    assert_error(ack, "invalid_payload", "colour", "unknown field")
    ack = await alice.call("agent.request", {"key": "k2", "conversation_id": cid,
                                             "priority": 9})
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
        ack = await alice.call("message.send", {"key": key, "conversation_id": cid,
                                                "text": "hello"})
        assert_error(ack, "invalid_payload", "key")
        assert_error(await alice.call("conversation.start", {"key": key}), "invalid_payload",
                     "key")
    assert await log_of(server, cid) == before
    # The boundary: exactly 128 characters is a fine key.
    ack = await alice.call("message.send", {"key": "k" * 128, "conversation_id": cid,
                                            "text": "hello"})
    assert ack["ok"] is True, ack


async def test_empty_or_blank_text_is_refused(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    for text in ("", "   ", "\n\t "):
        ack = await alice.call("message.send", {"key": f"k{len(text)}", "conversation_id": cid,
                                                "text": text})
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
        (alice, "/customer", ["conversation.delete", "offer.accept", "presence.set",
                              "queue.snapshot", "conversation.close", "MESSAGE.SEND"]),
        (anna, "/agent", ["conversation.start", "agent.request", "queue.snapshot",
                          "hello"]),
        (sara, "/supervisor", ["message.send", "read", "conversation.close",
                               "offer.accept", "conversation.start"]),
    ]
    for client, namespace, events in cases:
        for event in events:
            ack = await client.call(event, {"key": "k", "conversation_id": cid})
            assert_error(ack, "unknown_event", namespace, repr(event))
    assert await log_of(server, cid) == before
    await still_works(alice, cid)
    await still_works(sara, cid)
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]


@pytest.mark.parametrize("reserved", ["connect", "disconnect"])
async def test_reserved_event_names_sent_as_commands_are_unknown_events(
    server: RunningServer, clients: list[Client], reserved: str
) -> None:
    """A client may not fake the server's own connect/disconnect handlers by sending an
    event of that name: it is an unknown command, and the session is unchanged."""
    anna = await ready_agent(server, clients, "anna")
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.connections == 1
    ack = await anna.call(reserved, {"token": anna.token})
    assert_error(ack, "unknown_event", repr(reserved))
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.connections == 1, presence
    ack = await anna.call("presence.set", {"status": "ready"})
    assert ack["ok"] is True, ack


async def test_text_longer_than_the_limit_is_message_too_long(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    before = await log_of(server, cid)
    ack = await alice.call("message.send", {"key": "long", "conversation_id": cid,
                                            "text": "x" * 4001})
    assert_error(ack, "message_too_long", "4001", "4000")
    assert await log_of(server, cid) == before
    # The limit itself is allowed, and the refused key is still free.
    ack = await alice.call("message.send", {"key": "long", "conversation_id": cid,
                                            "text": "y" * 4000})
    assert ack["ok"] is True, ack


async def test_configured_message_limit_applies_to_agents_too(
    server_factory: Any, clients: list[Client]
) -> None:
    server = await server_factory(max_message_chars=20)
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    ack = await anna.call("message.send", {"key": "a", "conversation_id": cid, "text": "z" * 21})
    assert_error(ack, "message_too_long", "20")
    ack = await alice.call("message.send", {"key": "b", "conversation_id": cid,
                                            "text": "z" * 21})
    assert_error(ack, "message_too_long", "20")
    assert await log_of(server, cid) == before
    assert (await anna.call("message.send", {"key": "c", "conversation_id": cid,
                                             "text": "z" * 20}))["ok"]


async def test_oversized_packet_closes_only_that_connection(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, cid = await customer_with_conversation(server, clients)
    bob, bob_cid = await customer_with_conversation(server, clients, "bob")
    before = await log_of(server, cid)
    limit = server.services.settings.max_packet_bytes
    assert limit == 65536
    payload = {"key": "huge", "conversation_id": cid, "text": "x" * (limit + 1000)}
    with pytest.raises((TimeoutError, socketio.exceptions.SocketIOError)):
        await alice.call("message.send", payload, timeout=3)

    async def disconnected() -> None:
        while alice.sio.connected:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(disconnected(), DEFAULT_TIMEOUT)
    assert await log_of(server, cid) == before
    # The server and the other clients carry on.
    status, body = await server.get("/healthz")
    assert status == 200 and body == {"status": "ok"}
    sent = await bob.command("message.send", conversation_id=bob_cid, text="still here?")
    await bob.wait_event(bob_cid, lambda e: e["seq"] == sent["seq"])
    # The customer can connect again and resume.
    again = await server.client("alice")
    clients.append(again)
    ack = await again.call("resume", {"conversation_id": cid, "after_seq": 0})
    assert ack["ok"] and ack["last_seq"] == before[-1]["seq"], ack


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
        ("conversation.transfer", {"key": "k4", "conversation_id": MISSING,
                                   "to_queue": "general"}),
        ("read", {"key": "k5", "conversation_id": MISSING, "up_to_seq": 1}),
        ("resume", {"conversation_id": MISSING, "after_seq": 0}),
        ("typing", {"conversation_id": MISSING, "active": False}),
    ]
    for event, payload in agent_cases:
        assert_error(await anna.call(event, payload), "not_found", MISSING)
    assert_error(await sara.call("resume", {"conversation_id": MISSING, "after_seq": 0}),
                 "not_found", MISSING)
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
    assert not [d for _, d in bob.received
                if isinstance(d, dict) and d.get("conversation_id") == cid]
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
    assert_error(await ben.call("offer.accept", {"key": "steal", "offer_id": offer_id}),
                 "not_found", offer_id)
    assert_error(await ben.call("offer.decline", {"offer_id": offer_id}), "not_found", offer_id)
    for bogus in ("o-nope", "x" * 64):
        assert_error(await anna.call("offer.accept", {"key": "k", "offer_id": bogus}),
                     "not_found", bogus)
        assert_error(await anna.call("offer.decline", {"offer_id": bogus}), "not_found")
    assert_error(await anna.call("offer.accept", {"key": "k", "offer_id": "x" * 65}),
                 "invalid_payload", "offer_id")
    assert await log_of(server, cid) == before
    assert not [d for n, d in anna.received if n == "offer.withdrawn"]
    # The offer is still anna's to take.
    accepted = await anna.command("offer.accept", offer_id=offer_id)
    assert accepted["conversation_id"] == cid
    state = await server.services.conversations.state(cid)
    assert state is not None and state.handler == "agent:anna"


async def test_read_beyond_the_log_is_refused(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    last = before[-1]["seq"]
    for client in (alice, anna):
        ack = await client.call("read", {"key": "r", "conversation_id": cid,
                                         "up_to_seq": last + 1})
        assert_error(ack, "invalid_payload", "up_to_seq", str(last))
        ack = await client.call("read", {"key": "r2", "conversation_id": cid,
                                         "up_to_seq": 10**9})
        assert_error(ack, "invalid_payload", "up_to_seq")
    assert await log_of(server, cid) == before
    ok = await alice.call("read", {"key": "r", "conversation_id": cid, "up_to_seq": last})
    assert ok["ok"] is True and ok["seq"] == last + 1, ok


async def test_transfer_needs_exactly_one_target_that_is_online(
    server: RunningServer, clients: list[Client]
) -> None:
    alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    before = await log_of(server, cid)
    both = {"key": "t1", "conversation_id": cid, "to_agent": "ben", "to_queue": "general"}
    assert_error(await anna.call("conversation.transfer", both), "invalid_payload",
                 "to_agent", "to_queue")
    neither = {"key": "t2", "conversation_id": cid, "note": "someone please"}
    assert_error(await anna.call("conversation.transfer", neither), "invalid_payload",
                 "to_agent", "to_queue")
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


async def test_presence_set_with_a_bad_status(
    server: RunningServer, clients: list[Client]
) -> None:
    anna = await server.client("anna")
    clients.append(anna)
    for status in ("busy", "wrap_up", "offline", "away", "READY", "", 1, None, ["ready"]):
        ack = await anna.call("presence.set", {"status": status})
        assert_error(ack, "invalid_payload", "status")
    assert_error(await anna.call("presence.set", {}), "invalid_payload", "status")
    assert_error(await anna.call("presence.set", {"status": "ready", "load": 0}),
                 "invalid_payload", "load", "unknown field")
    presence = server.services.router.presence_of("anna")
    assert presence is not None and presence.chosen == "not_ready"
    ack = await anna.call("presence.set", {"status": "ready"})
    assert ack["ok"] is True and ack["status"] == "ready", ack


# -- refused connections -----------------------------------------------------------------


async def refused(server: RunningServer, namespace: str, auth: Any) -> dict[str, Any]:
    """Connect with `auth`; assert the connection is refused; the connect_error data.

    python-socketio's AsyncClient raises `socketio.exceptions.ConnectionError("One or
    more namespaces failed to connect: ...")`; the server's `{code, message}` reaches
    the namespace's `connect_error` handler."""
    sio = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    sio.on("connect_error", lambda data=None: errors.append(data), namespace=namespace)
    try:
        with pytest.raises(socketio.exceptions.ConnectionError) as raised:
            await sio.connect(server.url, namespaces=[namespace], transports=["websocket"],
                              auth=auth, wait_timeout=DEFAULT_TIMEOUT)
    finally:
        await sio.disconnect()
    assert namespace in str(raised.value)
    assert len(errors) == 1, errors
    data = errors[0]
    assert isinstance(data, dict) and set(data) == {"code", "message"}, data
    return data


def mint(secret: str, **claims: Any) -> str:
    body: dict[str, Any] = {"sub": "alice", "role": "customer", "name": "Alice",
                            "exp": datetime.now(UTC) + timedelta(minutes=5)}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, secret,
                      algorithm="HS256")


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
        ({"token": jwt.encode({"sub": "alice", "role": "customer", "exp": 4102444800},
                              "", algorithm="none")}, "invalid token"),
    ]
    for auth, words in cases:
        data = await refused(server, "/customer", auth)
        assert data["code"] == "unauthorized", (auth, data)
        assert words.lower() in data["message"].lower(), (auth, data)
    # Refusals leave the server as it was: a good token still connects.
    alice = await server.client("alice")
    clients.append(alice)
    assert alice.sio.connected


async def test_token_for_another_role_is_forbidden(
    server: RunningServer, clients: list[Client]
) -> None:
    tokens = {name: (await server.login(name))["token"] for name in ("alice", "anna", "sara")}
    wrong = [("alice", "/agent"), ("alice", "/supervisor"), ("anna", "/customer"),
             ("anna", "/supervisor"), ("sara", "/customer"), ("sara", "/agent")]
    for name, namespace in wrong:
        data = await refused(server, namespace, {"token": tokens[name]})
        assert data["code"] == "forbidden", (name, namespace, data)
        assert namespace in data["message"], data
    # A customer refused on /agent did not become an agent anywhere.
    assert server.services.router.presence_of("alice") is None
    assert server.services.router.presence_of("sara") is None
