"""REST under /api/v1 with bearer tokens, and the health routes."""

from __future__ import annotations

import aiohttp

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer
from tests.e2e.test_chat_flow import ready_agent, start
from tests.e2e.test_delivery import served_by_agent


async def post(server: RunningServer, path: str, body: object) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.post(server.url + path, json=body) as r:
        return r.status, dict(await r.json())


async def test_health_and_readiness(server: RunningServer) -> None:
    assert await server.get("/healthz") == (200, {"status": "ok"})
    status, body = await server.get("/readyz")
    assert status == 200
    assert body["status"] == "ready"
    assert body["checks"]["store"]["status"] == "ok"


async def test_demo_login(server: RunningServer) -> None:
    login = await server.login("anna")
    assert (login["role"], login["id"], login["name"]) == ("agent", "anna", "Anna Novak")
    status, body = await post(server, "/api/v1/demo/login", {"username": "mallory"})
    assert status == 404
    assert body["error"]["code"] == "not_found"
    status, body = await post(server, "/api/v1/demo/login", {})
    assert status == 400
    assert "username" in str(body["error"]["message"])
    generated = await server.login("customer-load-1")
    assert generated["role"] == "customer"


async def test_no_demo_login_outside_demo_mode(server_factory: ServerFactory) -> None:
    server = await server_factory(demo=False, jwt_secret="s" * 40)
    async with (
        aiohttp.ClientSession() as http,
        http.post(server.url + "/api/v1/demo/login", json={"username": "alice"}) as r,
    ):
        assert r.status == 404


async def test_authorization_is_required_and_checked(server: RunningServer) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer nope"}):
        async with (
            aiohttp.ClientSession() as http,
            http.get(server.url + "/api/v1/me", headers=headers) as r,
        ):
            assert r.status == 401
            assert (await r.json())["error"]["code"] == "unauthorized"
    token = (await server.login("alice"))["token"]
    assert await server.get("/api/v1/me", token) == (
        200,
        {"id": "alice", "role": "customer", "name": "Alice Martin"},
    )


async def test_conversations_list_get_and_events(
    server: RunningServer, clients: list[Client]
) -> None:
    _alice, anna, cid = await served_by_agent(server, clients, "alice", "anna")
    bob = await server.client("bob")
    clients.append(bob)
    bob_cid = await start(bob)
    await anna.command("message.send", conversation_id=cid, text="hello")
    await server.settle()
    tokens = {
        name: (await server.login(name))["token"]
        for name in ("alice", "bob", "anna", "ben", "sara")
    }

    status, body = await server.get("/api/v1/conversations", tokens["alice"])
    assert status == 200
    assert [c["id"] for c in body["conversations"]] == [cid]
    status, body = await server.get("/api/v1/conversations?customer_id=bob", tokens["alice"])
    assert status == 403
    for staff in ("anna", "sara"):
        status, body = await server.get("/api/v1/conversations?status=open", tokens[staff])
        assert {c["id"] for c in body["conversations"]} == {cid, bob_cid}
    status, body = await server.get("/api/v1/conversations?handler=agent:anna", tokens["sara"])
    assert [c["id"] for c in body["conversations"]] == [cid]
    assert (await server.get("/api/v1/conversations?status=maybe", tokens["sara"]))[0] == 400
    assert (await server.get("/api/v1/conversations?limit=0", tokens["sara"]))[0] == 400
    assert (await server.get("/api/v1/conversations?limit=x", tokens["sara"]))[0] == 400

    status, summary = await server.get(f"/api/v1/conversations/{cid}", tokens["alice"])
    assert status == 200
    assert summary["handler"] == "agent:anna" and summary["customer_id"] == "alice"
    assert summary["channels"] == ["chat"] and summary["status"] == "open"

    status, body = await server.get(
        f"/api/v1/conversations/{cid}/events?after_seq=2&limit=3", tokens["sara"]
    )
    assert status == 200
    assert [e["seq"] for e in body["events"]] == [3, 4, 5]
    assert body["last_seq"] == summary["last_seq"]

    assert (await server.get(f"/api/v1/conversations/{cid}", tokens["bob"]))[0] == 404
    assert (await server.get(f"/api/v1/conversations/{cid}/events", tokens["bob"]))[0] == 404
    assert (await server.get(f"/api/v1/conversations/{cid}/events", tokens["ben"]))[0] == 403
    assert (await server.get("/api/v1/conversations/c-nope", tokens["sara"]))[0] == 404


async def test_agents_with_presence(server: RunningServer, clients: list[Client]) -> None:
    await ready_agent(server, clients, "anna")
    token = (await server.login("sara"))["token"]
    status, body = await server.get("/api/v1/agents", token)
    assert status == 200
    agents = {a["agent_id"]: a for a in body["agents"]}
    assert agents["anna"]["status"] == "ready" and agents["anna"]["capacity"] == 3
    assert agents["ben"]["status"] == "offline"
    customer = (await server.login("alice"))["token"]
    assert (await server.get("/api/v1/agents", customer))[0] == 403
