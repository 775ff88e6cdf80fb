"""The gateway on PostgreSQL: what was acknowledged survives a restart of the server."""

from __future__ import annotations

from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, durable_settings
from tests.e2e.test_chat_flow import start
from tests.e2e.test_delivery import served_by_agent


async def test_restart_on_postgres_loses_nothing(
    pg_schema: str, server_factory: ServerFactory, clients: list[Client]
) -> None:
    options = durable_settings(pg_schema)
    first = await server_factory(**options)
    status, ready = await first.get("/readyz")
    assert status == 200 and ready["checks"]["store"]["kind"] == "PostgresStore"
    alice, anna, cid = await served_by_agent(first, clients, "alice", "anna")
    sent = [
        (await anna.command("message.send", conversation_id=cid, text=f"a{i}"))["seq"]
        for i in range(20)
    ]
    await alice.wait_event(cid, lambda e: e["seq"] == sent[-1])
    seen = alice.known(cid)
    for client in (alice, anna):
        await client.close()
    clients.clear()
    await first.runner.cleanup()

    second = await server_factory(**options)
    back = await second.client("alice")
    clients.append(back)
    # The same open conversation comes back, with its whole log.
    ack = await back.command("conversation.start")
    assert ack["conversation_id"] == cid and ack["created"] is False
    assert back.known(cid) == seen
    retried = await back.call(
        "message.send", {"key": "after-restart", "conversation_id": cid, "text": "still there?"}
    )
    again = await back.call(
        "message.send", {"key": "after-restart", "conversation_id": cid, "text": "still there?"}
    )
    assert retried == again and retried["seq"] == seen[-1] + 1
    status, body = await second.get(f"/api/v1/conversations/{cid}/events", back.login["token"])
    assert [e["seq"] for e in body["events"]] == [*seen, retried["seq"]]


async def test_a_new_customer_on_postgres_gets_the_bot(
    pg_schema: str, server_factory: ServerFactory, clients: list[Client]
) -> None:
    server = await server_factory(**durable_settings(pg_schema))
    bob = await server.client("bob")
    clients.append(bob)
    cid = await start(bob)
    ack = await bob.command("message.send", conversation_id=cid, text="How do I reset my password?")
    answer = await bob.wait_event(cid, lambda e: e["actor"] == "bot" and e["seq"] > ack["seq"])
    assert answer["data"]["kind"] in ("answer", "clarify")


async def test_customers_waiting_in_the_queue_survive_a_restart(
    pg_schema: str, server_factory: ServerFactory, clients: list[Client]
) -> None:
    options = durable_settings(pg_schema)
    first = await server_factory(**options)
    waiting = []
    for name in ("alice", "bob"):
        customer = await first.client(name)
        cid = await start(customer)
        await customer.command("agent.request", conversation_id=cid)
        waiting.append(cid)
        await customer.close()
    await first.runner.cleanup()

    second = await server_factory(**options)
    anna = await second.client("anna")
    clients.append(anna)
    assert (await anna.call("presence.set", {"status": "ready"}))["ok"]
    offer = await anna.wait_for("offer")
    assert offer["conversation_id"] == waiting[0]  # first come, first served, still
    assert offer["context"]["reason"] == "customer_request"
    snapshot = second.services.router.snapshot()
    assert [e["conversation_id"] for e in snapshot["entries"]] == waiting
