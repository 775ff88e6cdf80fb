"""The router with the real conversation service and an in-memory notifier."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from handoff.directory import MemoryDirectory
from handoff.ports import Offer, Person
from handoff.presence import AgentPresence
from handoff.queue import MemoryRoutingQueue
from handoff.router import Router, RouterSettings
from sessions import commands as c
from sessions.errors import DomainError
from sessions.locks import LocalLocks
from sessions.memory_store import MemoryStore
from sessions.service import ConversationService, utc_now


@dataclass
class RecordingNotifier:
    offers: list[Offer] = field(default_factory=list)
    withdrawn: list[tuple[str, str]] = field(default_factory=list)
    positions: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    presences: list[dict[str, Any]] = field(default_factory=list)
    assigned_to: list[tuple[str, str]] = field(default_factory=list)
    unassigned_from: list[tuple[str, str, int]] = field(default_factory=list)

    async def offer(self, offer: Offer) -> None:
        self.offers.append(offer)

    async def offer_withdrawn(self, offer: Offer, reason: str) -> None:
        self.withdrawn.append((offer.offer_id, reason))

    async def queue_position(self, conversation_id: str, position: int, eta: int) -> None:
        self.positions.setdefault(conversation_id, []).append((position, eta))

    async def presence(self, presence: AgentPresence) -> None:
        self.presences.append(presence.to_json(utc_now()))

    async def assigned(
        self, agent_id: str, conversation_id: str, customer: Person, context: Mapping[str, Any]
    ) -> None:
        self.assigned_to.append((agent_id, conversation_id))

    async def unassigned(
        self, agent_id: str, conversation_id: str, reason: str, last_seq: int
    ) -> None:
        self.unassigned_from.append((agent_id, conversation_id, last_seq))


@dataclass
class World:
    service: ConversationService
    router: Router
    notifier: RecordingNotifier
    store: MemoryStore

    async def escalate(self, customer: str, priority: int = 0, queue: str = "general") -> str:
        outcome = await self.service.start(customer, "chat", key=f"start-{customer}")
        cid = outcome.conversation_id
        await self.service.execute(
            cid,
            c.Escalate("bot", "customer_request", queue, context={"priority": priority}),
            actor="bot",
        )
        await self.sync()
        return cid

    async def sync(self) -> None:
        """Feed the router what the log says, as the conductor does."""
        for _ in range(5):
            await asyncio.sleep(0)
            while self._pending:
                await self.router.observe(self._pending.pop(0))

    _pending: list[Any] = field(default_factory=list)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = MemoryStore()
    service = ConversationService(store, LocalLocks())
    notifier = RecordingNotifier()
    router = Router(
        service,
        MemoryRoutingQueue(),
        MemoryDirectory(),
        notifier,
        RouterSettings(
            offer_timeout_seconds=0.1,
            wrap_up_seconds=0,
            agent_capacity=2,
            agent_lost_grace_seconds=0.1,
        ),
        clock=utc_now,
    )
    w = World(service, router, notifier, store)
    feed = store.subscribe()

    async def pump() -> None:
        async for event in feed:
            w._pending.append(event)

    task = asyncio.create_task(pump())
    yield w
    await router.close()
    await feed.aclose()
    await task


async def test_offer_goes_to_a_ready_agent_and_accept_assigns(world: World) -> None:
    await world.router.agent_connected("anna", "Anna")
    cid = await world.escalate("alice")
    assert world.notifier.offers == []  # nobody is ready yet
    assert world.notifier.positions[cid][-1][0] == 1
    await world.router.set_status("anna", "ready")
    (offer,) = world.notifier.offers
    assert offer.conversation_id == cid and offer.agent_id == "anna"
    outcome = await world.router.accept("anna", offer.offer_id, "k1")
    assert [e.data["to"] for e in outcome.events] == ["agent:anna"]
    await world.sync()
    assert world.notifier.assigned_to == [("anna", cid)]
    assert world.router.presence_of("anna").load == 1  # type: ignore[union-attr]


async def test_timeout_moves_the_offer_to_the_next_agent_and_sets_not_ready(
    world: World,
) -> None:
    for agent in ("anna", "ben"):
        await world.router.agent_connected(agent, agent)
        await world.router.set_status(agent, "ready")
    cid = await world.escalate("alice")
    first = world.notifier.offers[0]
    await asyncio.sleep(0.25)
    assert (first.offer_id, "timeout") in world.notifier.withdrawn
    second = world.notifier.offers[1]
    assert second.conversation_id == cid and second.agent_id != first.agent_id
    assert world.router.presence_of(first.agent_id).chosen == "not_ready"  # type: ignore[union-attr]
    with pytest.raises(DomainError) as late:
        await world.router.accept(first.agent_id, first.offer_id, "late")
    assert late.value.code == "not_found"


async def test_decline_offers_to_someone_else_then_back(world: World) -> None:
    for agent in ("anna", "ben"):
        await world.router.agent_connected(agent, agent)
        await world.router.set_status(agent, "ready")
    await world.escalate("alice")
    first = world.notifier.offers[0]
    await world.router.decline(first.agent_id, first.offer_id)
    second = world.notifier.offers[1]
    assert second.agent_id != first.agent_id
    await world.router.decline(second.agent_id, second.offer_id)
    # Everyone passed once: a new round starts rather than leaving the customer stuck.
    assert len(world.notifier.offers) == 3


async def test_priority_then_first_come_first_served_with_positions(world: World) -> None:
    a = await world.escalate("alice")
    b = await world.escalate("bob")
    urgent = await world.escalate("chen", priority=10)
    snapshot = world.router.snapshot()
    assert [e["conversation_id"] for e in snapshot["entries"]] == [urgent, a, b]
    assert world.notifier.positions[b][-1][0] == 3
    assert world.notifier.positions[a][-1][0] == 2
    await world.router.agent_connected("anna", "anna")
    await world.router.set_status("anna", "ready")
    assert world.notifier.offers[0].conversation_id == urgent


async def test_capacity_limits_concurrent_chats(world: World) -> None:
    await world.router.agent_connected("anna", "anna")
    await world.router.set_status("anna", "ready")
    for customer in ("alice", "bob", "chen"):
        await world.escalate(customer)
        offers = [o for o in world.notifier.offers if o.agent_id == "anna"]
        if offers and (world.router.presence_of("anna").load < 2):  # type: ignore[union-attr]
            await world.router.accept("anna", offers[-1].offer_id, f"k-{customer}")
            await world.sync()
    presence = world.router.presence_of("anna")
    assert presence is not None and presence.load == 2
    assert presence.status(utc_now()) == "busy"
    assert len(world.notifier.offers) == 2


async def test_lost_agent_conversations_are_requeued_after_grace(world: World) -> None:
    await world.router.agent_connected("anna", "anna")
    await world.router.set_status("anna", "ready")
    cid = await world.escalate("alice")
    await world.router.accept("anna", world.notifier.offers[0].offer_id, "k")
    await world.sync()
    await world.router.agent_disconnected("anna")
    await asyncio.sleep(0.25)
    await world.sync()
    state = await world.service.state(cid)
    assert state is not None and state.handler == "queue"
    assert world.notifier.unassigned_from[-1][:2] == ("anna", cid)


async def test_a_queue_goes_to_agents_with_its_skill_then_overflows(world: World) -> None:
    world.router._settings = RouterSettings(
        offer_timeout_seconds=5, wrap_up_seconds=0, skill_overflow_seconds=0.3
    )
    await world.router.agent_connected("ben", "Ben", frozenset({"cards"}))
    await world.router.set_status("ben", "ready")
    transfers = await world.escalate("alice", queue="transfers")
    assert world.notifier.offers == []  # Ben does not do transfers
    cards = await world.escalate("bob", queue="cards")
    (offer,) = world.notifier.offers
    assert (offer.conversation_id, offer.agent_id) == (cards, "ben")
    await world.router.accept("ben", offer.offer_id, "k-cards")
    # Anna serves every queue: the transfers customer, first in line, is hers.
    await world.router.agent_connected("anna", "Anna")
    await world.router.set_status("anna", "ready")
    to_anna = [o for o in world.notifier.offers if o.agent_id == "anna"]
    assert [o.conversation_id for o in to_anna] == [transfers]
    await world.router.set_status("anna", "not_ready")
    await world.router.decline("anna", to_anna[0].offer_id)
    # Nobody with the skill is ready; after the overflow time, Ben is asked.
    await asyncio.sleep(0.35)
    await world.router._changed()
    assert any(
        o.conversation_id == transfers and o.agent_id == "ben" for o in world.notifier.offers
    )
