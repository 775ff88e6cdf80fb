"""Helpers for the intent, self-service and ticket end-to-end tests.

Every server here waits for its intent model before anyone chats: until it is loaded
the bot answers from its knowledge search alone, and the tests would exercise the wrong
policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from gateway.app import create_app
from gateway.settings import Settings
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Client, RunningServer

# The bot answers in milliseconds; this only bounds a hang.
REPLY_TIMEOUT = 5.0


async def ready_server(server_factory: ServerFactory, **overrides: Any) -> RunningServer:
    server = await server_factory(**overrides)
    assert await server.services.understanding.wait_ready(), "the intent model did not load"
    return server


async def start_warming_server(**overrides: Any) -> RunningServer:
    """Like `harness.start_server`, but without waiting for the intent model: the caller
    cleans up (`server.runner.cleanup()`)."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "demo": True,
        "wrap_up_seconds": 0.0,
        "log_level": "WARNING",
        **overrides,
    }
    runner = web.AppRunner(create_app(Settings(**values)), shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return RunningServer(f"http://127.0.0.1:{port}", runner.app, runner)


async def connect(server: RunningServer, clients: list[Client], username: str) -> Client:
    client = await server.client(username)
    clients.append(client)
    return client


async def start_chat(
    server: RunningServer, clients: list[Client], username: str
) -> tuple[Client, str]:
    customer = await connect(server, clients, username)
    ack = await customer.command("conversation.start")
    assert ack["created"] is True, ack
    cid = str(ack["conversation_id"])
    await customer.wait_event(cid, lambda e: e["data"].get("kind") == "greeting")
    return customer, cid


@dataclass(frozen=True)
class Turn:
    """One customer message and what the bot did about it."""

    seq: int  # the customer's message
    reply: dict[str, Any]  # the bot's message.sent event
    events: list[dict[str, Any]]  # every event after the message, up to the reply

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.reply["data"])

    @property
    def text(self) -> str:
        return str(self.reply["data"]["text"])

    @property
    def kind(self) -> str:
        return str(self.reply["data"]["kind"])

    @property
    def tasks(self) -> list[dict[str, Any]]:
        return [e["data"] for e in self.events if e["type"] == "task.completed"]


async def say(customer: Client, cid: str, text: str) -> Turn:
    """The customer writes `text`; returns once the bot has answered it."""
    ack = await customer.command("message.send", conversation_id=cid, text=text)
    seq = int(ack["seq"])
    reply = await customer.wait_event(
        cid,
        lambda e: e["seq"] > seq and e["type"] == "message.sent" and e["actor"] == "bot",
        REPLY_TIMEOUT,
    )
    events = [e for e in customer.events[cid] if seq < e["seq"] <= reply["seq"]]
    assert [e["seq"] for e in events] == list(range(seq + 1, reply["seq"] + 1)), events
    # The bot logs what it understood of the very message it answers.
    understood = reply["data"].get("understood")
    assert understood is None or understood["seq"] == seq, reply
    return Turn(seq, reply, events)


def event_types(client: Client, cid: str) -> list[str]:
    return [e["type"] for e in client.events[cid]]


async def escalated(customer: Client, cid: str, after: int) -> dict[str, Any]:
    """The switch to the queue after seq `after`."""
    return await customer.wait_event(
        cid,
        lambda e: (
            e["seq"] > after and e["type"] == "handler.changed" and e["data"]["to"] == "queue"
        ),
        REPLY_TIMEOUT,
    )


async def accept_offer(agent: Client, customer: Client, cid: str) -> dict[str, Any]:
    """`agent` (ready) accepts the offer for `cid`; returns the offer."""
    offer = await agent.wait_for("offer", lambda o: o["conversation_id"] == cid, REPLY_TIMEOUT)
    await agent.command("offer.accept", offer_id=offer["offer_id"])
    await customer.wait_event(
        cid, lambda e: e["type"] == "handler.changed" and e["data"]["to"] == f"agent:{agent.id}"
    )
    return dict(offer)


async def ready(agent: Client) -> None:
    ack = await agent.call("presence.set", {"status": "ready"})
    assert ack["ok"] and ack["status"] == "ready", ack


async def log_of(server: RunningServer, cid: str, token: str) -> list[dict[str, Any]]:
    status, body = await server.get(f"/api/v1/conversations/{cid}/events", token)
    assert status == 200, body
    return list(body["events"])


async def post_json(
    server: RunningServer, path: str, body: Any, token: str | None = None, *, raw: bool = False
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as http:
        if raw:
            request = http.post(server.url + path, data=body, headers=headers)
        else:
            request = http.post(server.url + path, json=body, headers=headers)
        async with request as response:
            return response.status, await response.json()
