"""REST under /api/v1 with Bearer tokens, the demo login, and the health routes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import jwt

from tests.conftest import DATABASE_URL
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_chat_flow import ready_agent, start
from tests.e2e.test_delivery import served_by_agent

SUMMARY_FIELDS = {
    "id",
    "customer_id",
    "status",
    "handler",
    "channels",
    "last_seq",
    "started_at",
    "updated_at",
}


async def request(
    server: RunningServer,
    method: str,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """(status, JSON body); the body is the raw text when it is not JSON."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, server.url + path, headers=sent, **kwargs) as r,
    ):
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def get(server: RunningServer, path: str, token: str | None = None) -> tuple[int, Any]:
    return await request(server, "GET", path, token=token)


def assert_error(status: int, body: Any, expected_status: int, code: str, *names: str) -> None:
    assert status == expected_status, (status, body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message, body
    for name in names:
        assert name.lower() in message.lower(), (name, body)


async def tokens(server: RunningServer, *names: str) -> dict[str, str]:
    return {name: (await server.login(name))["token"] for name in names}


# -- health ------------------------------------------------------------------------------


async def test_healthz_and_readyz_need_no_token(server: RunningServer) -> None:
    assert await get(server, "/healthz") == (200, {"status": "ok"})
    status, body = await get(server, "/readyz")
    assert status == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["store"]["status"] == "ok"
    assert body["checks"]["store"]["kind"] == "MemoryStore"
    # A token, even a bad one, does not matter to health checks.
    assert (await get(server, "/healthz", token="garbage"))[0] == 200


# -- demo login --------------------------------------------------------------------------


async def test_demo_login_mints_a_token_for_each_demo_user(server: RunningServer) -> None:
    expected = {
        "alice": ("customer", "Alice Martin"),
        "bob": ("customer", "Bob Okafor"),
        "chen": ("customer", "Chen Wei"),
        "anna": ("agent", "Anna Novak"),
        "ben": ("agent", "Ben Duarte"),
        "sara": ("supervisor", "Sara Lindqvist"),
    }
    for username, (role, name) in expected.items():
        status, body = await request(
            server, "POST", "/api/v1/demo/login", json={"username": username}
        )
        assert status == 200, body
        assert set(body) == {"token", "role", "id", "name", "expires_at"}
        assert (body["role"], body["id"], body["name"]) == (role, username, name)
        expires = datetime.fromisoformat(body["expires_at"])
        assert expires > datetime.now(UTC) + timedelta(minutes=30)
        principal = server.services.verifier.verify(body["token"])
        assert (principal.id, principal.role, principal.name) == (username, role, name)
    # Usernames are trimmed and case-insensitive; load-test users are made on demand.
    status, body = await request(
        server, "POST", "/api/v1/demo/login", json={"username": "  Alice "}
    )
    assert status == 200 and body["id"] == "alice", body
    for generated, role in (("customer-x1", "customer"), ("agent-y_2", "agent")):
        status, body = await request(
            server, "POST", "/api/v1/demo/login", json={"username": generated}
        )
        assert status == 200 and (body["id"], body["role"]) == (generated, role), body


async def test_demo_login_errors(server: RunningServer) -> None:
    login = "/api/v1/demo/login"
    status, body = await request(server, "POST", login, json={"username": "mallory"})
    assert_error(status, body, 404, "not_found", "mallory")
    for username in ("customer-", "agent-" + "x" * 49, "supervisor-1", "admin"):
        status, body = await request(server, "POST", login, json={"username": username})
        assert_error(status, body, 404, "not_found")
    # No body, a body that is not JSON, and JSON without a usable username.
    status, body = await request(server, "POST", login)
    assert_error(status, body, 400, "invalid_payload")
    status, body = await request(
        server, "POST", login, data="{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(status, body, 400, "invalid_payload", "JSON")
    for payload in ({}, {"username": ""}, {"username": 7}, {"user": "alice"}, ["alice"], "alice"):
        status, body = await request(server, "POST", login, json=payload)
        assert_error(status, body, 400, "invalid_payload", "username")


async def test_no_demo_login_when_demo_mode_is_off(server_factory: ServerFactory) -> None:
    secret = "x" * 40
    server = await server_factory(demo=False, jwt_secret=secret)
    assert server.services.issuer is None
    status, _ = await request(server, "POST", "/api/v1/demo/login", json={"username": "alice"})
    assert status == 404
    # Tokens from the identity provider (here: signed with the secret) still work.
    token = jwt.encode(
        {
            "sub": "u-42",
            "role": "supervisor",
            "name": "Uma",
            "exp": datetime.now(UTC) + timedelta(minutes=5),
        },
        secret,
        algorithm="HS256",
    )
    assert await get(server, "/api/v1/me", token) == (
        200,
        {"id": "u-42", "role": "supervisor", "name": "Uma"},
    )
    # No demo people exist.
    status, body = await get(server, "/api/v1/agents", token)
    assert status == 200 and body == {"agents": []}, body


async def test_api_not_found_answers_in_the_documented_error_format(
    server_factory: ServerFactory,
) -> None:
    """docs/protocol.md: REST errors are {"error": {code, message}}. A client parsing an
    error must not get aiohttp's plain-text "404: Not Found" instead."""
    server = await server_factory(demo=False, jwt_secret="x" * 40)
    status, body = await request(server, "POST", "/api/v1/demo/login", json={"username": "alice"})
    assert_error(status, body, 404, "not_found")
    status, body = await get(server, "/api/v1/no-such-route")
    assert_error(status, body, 404, "not_found")


# -- authorization -----------------------------------------------------------------------


async def test_me_for_each_role(server: RunningServer) -> None:
    issued = await tokens(server, "alice", "anna", "sara")
    assert await get(server, "/api/v1/me", issued["alice"]) == (
        200,
        {"id": "alice", "role": "customer", "name": "Alice Martin"},
    )
    assert await get(server, "/api/v1/me", issued["anna"]) == (
        200,
        {"id": "anna", "role": "agent", "name": "Anna Novak"},
    )
    assert await get(server, "/api/v1/me", issued["sara"]) == (
        200,
        {"id": "sara", "role": "supervisor", "name": "Sara Lindqvist"},
    )
    # The scheme is case-insensitive (RFC 7235).
    status, body = await request(
        server, "GET", "/api/v1/me", headers={"Authorization": f"bearer {issued['alice']}"}
    )
    assert status == 200 and body["id"] == "alice", body


async def test_missing_or_bad_authorization_is_401_on_every_route(
    server: RunningServer, clients: list[Client]
) -> None:
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    secret = server.services.settings.jwt_secret
    assert secret is not None
    claims = {"sub": "alice", "role": "customer"}
    expired = jwt.encode(
        {**claims, "exp": datetime.now(UTC) - timedelta(seconds=30)}, secret, algorithm="HS256"
    )
    forged = jwt.encode(
        {**claims, "exp": datetime.now(UTC) + timedelta(minutes=5)}, "y" * 40, algorithm="HS256"
    )
    no_role = jwt.encode(
        {"sub": "alice", "exp": datetime.now(UTC) + timedelta(minutes=5)}, secret, algorithm="HS256"
    )
    bad_headers: list[tuple[dict[str, str], str]] = [
        ({}, "Bearer"),
        ({"Authorization": ""}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": "Bearer "}, "Bearer"),
        ({"Authorization": "Basic YWxpY2U6cGFzcw=="}, "Bearer"),
        ({"Authorization": f"Token {alice.token}"}, "Bearer"),
        ({"Authorization": "Bearer garbage"}, "invalid token"),
        ({"Authorization": f"Bearer {alice.token}x"}, "invalid token"),
        ({"Authorization": f"Bearer {expired}"}, "expired"),
        ({"Authorization": f"Bearer {forged}"}, "signature"),
        ({"Authorization": f"Bearer {no_role}"}, "role"),
    ]
    routes = [
        "/api/v1/me",
        "/api/v1/conversations",
        f"/api/v1/conversations/{cid}",
        f"/api/v1/conversations/{cid}/events",
        "/api/v1/conversations/c-nope",
        "/api/v1/agents",
    ]
    for route in routes:
        for headers, words in bad_headers:
            status, body = await request(server, "GET", route, headers=headers)
            assert_error(status, body, 401, "unauthorized", words)


async def test_a_token_whose_role_is_a_list_is_401_not_500(server: RunningServer) -> None:
    """Identity providers often send roles as arrays: refused as unauthorized."""
    secret = server.services.settings.jwt_secret
    assert secret is not None
    token = jwt.encode(
        {"sub": "alice", "role": ["customer"], "exp": datetime.now(UTC) + timedelta(minutes=5)},
        secret,
        algorithm="HS256",
    )
    status, body = await get(server, "/api/v1/me", token)
    assert_error(status, body, 401, "unauthorized", "role")


# -- conversations -----------------------------------------------------------------------


async def test_conversations_list_is_scoped_and_filtered(
    server: RunningServer, clients: list[Client]
) -> None:
    _alice, _anna, alice_cid = await served_by_agent(server, clients, "alice", "anna")
    _bob, ben, bob_cid = await served_by_agent(server, clients, "bob", "ben")
    await ben.command("conversation.close", conversation_id=bob_cid)
    chen = await server.client("chen")
    clients.append(chen)
    chen_cid = await start(chen)
    await server.settle()
    issued = await tokens(server, "alice", "bob", "anna", "sara")

    def ids(body: Any) -> set[str]:
        assert set(body) == {"conversations"}, body
        for summary in body["conversations"]:
            assert set(summary) == SUMMARY_FIELDS, summary
        return {c["id"] for c in body["conversations"]}

    # A customer sees their own, only.
    status, body = await get(server, "/api/v1/conversations", issued["alice"])
    assert status == 200 and ids(body) == {alice_cid}
    status, body = await get(server, "/api/v1/conversations?customer_id=alice", issued["alice"])
    assert status == 200 and ids(body) == {alice_cid}
    status, body = await get(server, "/api/v1/conversations?status=closed", issued["bob"])
    assert status == 200 and ids(body) == {bob_cid}
    status, body = await get(server, "/api/v1/conversations?status=open", issued["bob"])
    assert status == 200 and ids(body) == set()
    for other in ("bob", "chen", "nobody", ""):
        status, body = await get(
            server, f"/api/v1/conversations?customer_id={other}", issued["alice"]
        )
        # (An empty filter is not "mine" either: refused rather than widened.)
        assert_error(status, body, 403, "forbidden", "own")

    # Staff see everyone's, with filters.
    for staff in ("anna", "sara"):
        status, body = await get(server, "/api/v1/conversations", issued[staff])
        assert status == 200 and ids(body) == {alice_cid, bob_cid, chen_cid}
        status, body = await get(server, "/api/v1/conversations?status=open", issued[staff])
        assert status == 200 and ids(body) == {alice_cid, chen_cid}
        status, body = await get(server, "/api/v1/conversations?status=closed", issued[staff])
        assert status == 200 and ids(body) == {bob_cid}
        status, body = await get(server, "/api/v1/conversations?customer_id=chen", issued[staff])
        assert status == 200 and ids(body) == {chen_cid}
        status, body = await get(server, "/api/v1/conversations?handler=agent:anna", issued[staff])
        assert status == 200 and ids(body) == {alice_cid}
        status, body = await get(server, "/api/v1/conversations?handler=bot", issued[staff])
        assert status == 200 and ids(body) == {chen_cid}
        status, body = await get(server, "/api/v1/conversations?limit=1", issued[staff])
        assert status == 200 and len(body["conversations"]) == 1
    status, body = await get(server, "/api/v1/conversations", issued["sara"])
    by_id = {c["id"]: c for c in body["conversations"]}
    assert by_id[bob_cid]["status"] == "closed" and by_id[bob_cid]["handler"] == "none"
    assert by_id[alice_cid]["customer_id"] == "alice"
    assert by_id[alice_cid]["handler"] == "agent:anna"

    # Bad parameters are 400 and name the parameter.
    for query, name in [
        ("status=maybe", "status"),
        ("status=OPEN", "status"),
        ("status=", "status"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=1001", "limit"),
        ("limit=x", "limit"),
        ("limit=1.5", "limit"),
    ]:
        status, body = await get(server, f"/api/v1/conversations?{query}", issued["sara"])
        assert_error(status, body, 400, "invalid_payload", name)


async def test_conversation_summary_and_who_may_read_it(
    server: RunningServer, clients: list[Client]
) -> None:
    _alice, _anna, cid = await served_by_agent(server, clients, "alice", "anna")
    await server.settle()
    issued = await tokens(server, "alice", "bob", "anna", "ben", "sara")
    state = await server.services.conversations.state(cid)
    assert state is not None
    for reader in ("alice", "anna", "sara"):
        status, body = await get(server, f"/api/v1/conversations/{cid}", issued[reader])
        assert status == 200, body
        assert body == state.to_json()
        assert set(body) == SUMMARY_FIELDS
        assert body["channels"] == ["chat"] and body["last_seq"] == state.last_seq
    # Another customer learns nothing, not even that it exists: the same as a missing id.
    status, foreign = await get(server, f"/api/v1/conversations/{cid}", issued["bob"])
    assert_error(status, foreign, 404, "not_found", cid)
    missing = "c-" + "0" * 32
    status, absent = await get(server, f"/api/v1/conversations/{missing}", issued["bob"])
    assert_error(status, absent, 404, "not_found")
    assert foreign["error"]["message"].replace(cid, "X") == absent["error"]["message"].replace(
        missing, "X"
    )
    # An agent not assigned is forbidden; a supervisor may look at anything.
    status, body = await get(server, f"/api/v1/conversations/{cid}", issued["ben"])
    assert_error(status, body, 403, "forbidden", "not assigned")
    status, body = await get(server, f"/api/v1/conversations/{missing}", issued["sara"])
    assert_error(status, body, 404, "not_found", missing)


async def test_conversation_events_paging_and_access(
    server: RunningServer, clients: list[Client]
) -> None:
    _alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    for i in range(5):
        await anna.command("message.send", conversation_id=cid, text=f"agent line {i}")
    await server.settle()
    log = [e.to_json() for e in await server.services.conversations.history(cid)]
    last = log[-1]["seq"]
    assert [e["seq"] for e in log] == list(range(1, last + 1))
    issued = await tokens(server, "alice", "bob", "anna", "ben", "sara")
    base = f"/api/v1/conversations/{cid}/events"

    for reader in ("alice", "anna", "sara"):
        status, body = await get(server, base, issued[reader])
        assert status == 200, body
        assert body == {"events": log, "last_seq": last}
    status, body = await get(server, f"{base}?after_seq=3&limit=2", issued["alice"])
    assert status == 200
    assert [e["seq"] for e in body["events"]] == [4, 5] and body["last_seq"] == last
    status, body = await get(server, f"{base}?after_seq={last - 1}", issued["alice"])
    assert [e["seq"] for e in body["events"]] == [last]
    assert body["events"][0]["data"]["text"] == "agent line 4"
    status, body = await get(server, f"{base}?after_seq={last}", issued["alice"])
    assert status == 200 and body == {"events": [], "last_seq": last}
    status, body = await get(server, f"{base}?after_seq={last + 100}", issued["alice"])
    assert status == 200 and body == {"events": [], "last_seq": last}
    status, body = await get(server, f"{base}?limit=1", issued["sara"])
    assert [e["seq"] for e in body["events"]] == [1]

    for query, name in [
        ("after_seq=-1", "after_seq"),
        ("after_seq=x", "after_seq"),
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=", "limit"),
    ]:
        status, body = await get(server, f"{base}?{query}", issued["sara"])
        assert_error(status, body, 400, "invalid_payload", name)

    status, body = await get(server, base, issued["bob"])
    assert_error(status, body, 404, "not_found", cid)
    status, body = await get(server, base, issued["ben"])
    assert_error(status, body, 403, "forbidden")
    status, body = await get(server, "/api/v1/conversations/c-nope/events", issued["sara"])
    assert_error(status, body, 404, "not_found", "c-nope")

    # Once the agent hands the conversation back, they may no longer read it.
    await anna.command("conversation.handback", conversation_id=cid)
    await server.settle()
    status, body = await get(server, base, issued["anna"])
    assert_error(status, body, 403, "forbidden")
    status, body = await get(server, base, issued["alice"])
    assert status == 200 and body["last_seq"] > last


async def test_nul_in_parameters_is_a_client_error_with_postgres(
    pg_schema: str, server_factory: ServerFactory
) -> None:
    """PostgreSQL cannot hold U+0000 in text: such a parameter is the client's mistake
    (400, or 404 for an id), never a 500."""
    server = await server_factory(
        database_url=DATABASE_URL, database_schema=pg_schema, migrate_on_start=True
    )
    token = (await server.login("sara"))["token"]
    for query, name in [("customer_id=a%00b", "customer_id"), ("handler=%00", "handler")]:
        status, body = await get(server, f"/api/v1/conversations?{query}", token)
        assert_error(status, body, 400, "invalid_payload", name)
    for path in ("/api/v1/conversations/c-%00x", "/api/v1/conversations/c-%00x/events"):
        status, body = await get(server, path, token)
        assert status in (400, 404), (path, status, body)


# -- agents ------------------------------------------------------------------------------


async def test_agents_list_reflects_presence(server: RunningServer, clients: list[Client]) -> None:
    issued = await tokens(server, "alice", "anna", "sara")

    async def agents(token: str) -> dict[str, dict[str, Any]]:
        status, body = await get(server, "/api/v1/agents", token)
        assert status == 200, body
        return {a["agent_id"]: a for a in body["agents"]}

    before = await agents(issued["sara"])
    assert set(before) == {"anna", "ben"}
    assert before["anna"]["status"] == "offline" and before["anna"]["load"] == 0
    anna = await server.client("anna")
    clients.append(anna)
    assert (await agents(issued["sara"]))["anna"]["status"] == "not_ready"
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
    now = await agents(issued["sara"])
    assert now["anna"] == {
        "agent_id": "anna",
        "name": "Anna Novak",
        "status": "ready",
        "load": 0,
        "skills": [],
        "capacity": 3,
        "conversations": [],
    }
    assert now["ben"]["status"] == "offline"

    # A conversation assigned to anna shows as her load; agents may list too.
    alice = await server.client("alice")
    clients.append(alice)
    cid = await start(alice)
    await alice.command("agent.request", conversation_id=cid)
    offer = await anna.wait_for("offer", lambda o: o["conversation_id"] == cid)
    await anna.command("offer.accept", offer_id=offer["offer_id"])
    listed = (await agents(issued["anna"]))["anna"]
    assert listed["load"] == 1 and listed["conversations"] == [cid]

    # Generated agents appear once they log in and connect.
    extra = await ready_agent(server, clients, "agent-extra")
    assert (await agents(issued["sara"]))[extra.id]["status"] == "ready"

    status, body = await get(server, "/api/v1/agents", issued["alice"])
    assert_error(status, body, 403, "forbidden")
    await anna.close()
    await server.settle()
    assert (await agents(issued["sara"]))["anna"]["status"] == "offline"


async def test_agents_list_uses_the_documented_fields(
    server: RunningServer, clients: list[Client]
) -> None:
    """docs/protocol.md: GET /api/v1/agents -> {agents: [{agent_id, name, status, load,
    capacity, conversations}]}: every agent in the directory and every connected one."""
    await ready_agent(server, clients, "agent-extra")
    token = (await server.login("sara"))["token"]
    status, body = await get(server, "/api/v1/agents", token)
    assert status == 200
    assert set(body) == {"agents"}
    fields = {"agent_id", "name", "status", "load", "capacity", "conversations", "skills"}
    for agent in body["agents"]:
        assert set(agent) == fields, agent
    listed = [a["agent_id"] for a in body["agents"]]
    assert listed == sorted(listed) and len(listed) == len(set(listed))
    assert {"anna", "ben", "agent-extra"} <= set(listed)
