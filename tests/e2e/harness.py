"""A real Tandem server on a free loopback port and real python-socketio clients for it."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from aiohttp import web

from gateway.api import SERVICES
from gateway.app import create_app
from gateway.context import Services
from gateway.settings import Settings
from media.speech.factory import Speech

DEFAULT_TIMEOUT = 5.0


@dataclass
class RunningServer:
    url: str
    app: web.Application
    runner: web.AppRunner

    @property
    def services(self) -> Services:
        return self.app[SERVICES]

    async def login(self, username: str) -> dict[str, Any]:
        url = f"{self.url}/api/v1/demo/login"
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={"username": username}) as r,
        ):
            assert r.status == 200, await r.text()
            return dict(await r.json())

    async def get(self, path: str, token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with aiohttp.ClientSession() as http, http.get(self.url + path, headers=headers) as r:
            return r.status, await r.json()

    async def client(self, username: str, namespace: str | None = None) -> Client:
        login = await self.login(username)
        namespace = namespace or f"/{login['role']}"
        client = Client(self.url, namespace, login["token"], login)
        await client.connect()
        return client

    async def settle(self) -> None:
        """Let the conductor finish reacting to everything appended so far."""
        for _ in range(3):
            await asyncio.sleep(0.01)
            await self.services.conductor.idle()


async def start_server(*, speech_engines: Speech | None = None, **overrides: Any) -> RunningServer:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "demo": True,
        "offer_timeout_seconds": 30.0,
        "wrap_up_seconds": 0.0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    app = create_app(Settings(**values), speech_engines=speech_engines)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server = RunningServer(f"http://127.0.0.1:{port}", app, runner)
    # The bot answers from its knowledge search until the intent model is loaded (about
    # a tenth of a second from the cache): tests start after, so its answers do not race.
    await server.services.understanding.wait_ready()
    return server


@dataclass
class Client:
    """A socket.io client that records what the server sends."""

    url: str
    namespace: str
    token: str
    login: dict[str, Any]
    sio: socketio.AsyncClient = field(
        default_factory=lambda: socketio.AsyncClient(reconnection=False)
    )
    events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    received: list[tuple[str, Any]] = field(default_factory=list)
    # Seqs of this client's own messages, known from their acks (not echoed back).
    own: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def id(self) -> str:
        return str(self.login["id"])

    async def connect(self) -> None:
        def record(name: str) -> Callable[..., None]:
            def handler(data: Any = None) -> None:
                self.received.append((name, data))
                if name == "event":
                    self.events[data["conversation_id"]].append(data)
                self._changed.set()

            return handler

        for name in (
            "event",
            "typing",
            "queue.position",
            "offer",
            "offer.withdrawn",
            "presence",
            "assigned",
            "unassigned",
            "agent.presence",
            "server.shutdown",
        ):
            self.sio.on(name, record(name), namespace=self.namespace)
        await self.sio.connect(
            self.url,
            namespaces=[self.namespace],
            transports=["websocket"],
            auth={"token": self.token},
            wait_timeout=DEFAULT_TIMEOUT,
        )

    async def call(self, event: str, payload: Any = None, timeout: float = DEFAULT_TIMEOUT) -> Any:
        if payload is None:
            return await self.sio.call(event, namespace=self.namespace, timeout=timeout)
        return await self.sio.call(event, payload, namespace=self.namespace, timeout=timeout)

    async def command(self, event: str, **payload: Any) -> dict[str, Any]:
        """Send a keyed command; assert it succeeded; return the ack."""
        payload.setdefault("key", uuid.uuid4().hex)
        ack = await self.call(event, payload)
        assert ack["ok"], ack
        if event == "message.send":
            self.own[ack["conversation_id"]].append(ack["seq"])
        return dict(ack)

    async def wait_for(
        self,
        name: str,
        predicate: Callable[[Any], bool] = lambda _: True,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """The first thing named `name` received (so far or soon) that matches."""

        async def search() -> Any:
            while True:
                for got, data in self.received:
                    if got == name and predicate(data):
                        return data
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(search(), timeout)

    async def wait_event(
        self,
        conversation_id: str,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = DEFAULT_TIMEOUT,
    ) -> dict[str, Any]:
        return dict(
            await self.wait_for(
                "event", lambda e: e["conversation_id"] == conversation_id and predicate(e), timeout
            )
        )

    def seqs(self, conversation_id: str) -> list[int]:
        """Seqs received as events, in arrival order."""
        return [e["seq"] for e in self.events[conversation_id]]

    def known(self, conversation_id: str) -> list[int]:
        """Everything this client has of the log: events received plus its own acked
        messages. Asserts nothing arrived twice and events came in order."""
        received = self.seqs(conversation_id)
        assert received == sorted(set(received)), f"duplicate or out of order: {received}"
        own = self.own[conversation_id]
        assert not set(received) & set(own), "own messages must not be echoed back"
        return sorted([*received, *own])

    async def close(self) -> None:
        await self.sio.disconnect()


async def hand_to_agent(customer: Client, agent: Client, timeout: float = 10.0) -> str:
    """The customer starts a conversation and asks for a person; `agent` (set ready here,
    on whichever node) accepts the offer. Returns the conversation id."""
    assert (await agent.call("presence.set", {"status": "ready"}))["ok"]
    cid = str((await customer.command("conversation.start"))["conversation_id"])
    await customer.wait_event(cid, lambda e: e["data"].get("kind") == "greeting", timeout)
    await customer.command("agent.request", conversation_id=cid)
    offer = await agent.wait_for("offer", lambda o: o["conversation_id"] == cid, timeout)
    await agent.command("offer.accept", offer_id=offer["offer_id"])
    await customer.wait_event(cid, lambda e: e["data"].get("to") == f"agent:{agent.id}", timeout)
    return cid


def durable_settings(pg_schema: str, **extra: Any) -> dict[str, Any]:
    """Server settings for PostgreSQL in the test's own schema."""
    from tests.conftest import DATABASE_URL

    return {
        "database_url": DATABASE_URL,
        "database_schema": pg_schema,
        "migrate_on_start": True,
        "jwt_secret": "t" * 40,
        **extra,
    }


def cluster_settings(pg_schema: str, redis_prefix: str, **extra: Any) -> dict[str, Any]:
    """Server settings for a node of a cluster on PostgreSQL and Redis (own schema/prefix)."""
    from tests.conftest import REDIS_URL

    return durable_settings(
        pg_schema, **{"redis_url": REDIS_URL, "redis_prefix": redis_prefix, **extra}
    )
