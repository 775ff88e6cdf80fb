from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from media.testing import LoopbackClient
from tests.e2e.harness import Client, RunningServer, start_server

ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture
async def server_factory() -> AsyncIterator[ServerFactory]:
    started: list[RunningServer] = []

    async def factory(**overrides: Any) -> RunningServer:
        server = await start_server(**overrides)
        started.append(server)
        return server

    yield factory
    for server in started:
        await server.runner.cleanup()


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    """A demo-mode server: offers wait 30 s, no wrap-up."""
    return await server_factory()


@pytest.fixture
async def clients(server_factory: ServerFactory) -> AsyncIterator[list[Client]]:
    """Clients appended here are disconnected after the test."""
    opened: list[Client] = []
    yield opened
    for client in opened:
        await client.close()


@pytest.fixture
async def peers() -> AsyncIterator[list[LoopbackClient]]:
    """The test's aiortc peers (customers and agents), closed after it."""
    made: list[LoopbackClient] = []
    yield made
    for peer in made:
        await peer.close()
