"""The router: matches waiting conversations with ready agents through timed offers.

State here (presence, queue, offers) is this node's working set; the conversation log
stays the truth for who serves whom. Assignment is a `handler.changed` event appended by
the conversation service, and presence follows the log through `observe`, so whatever
path changed the handler (accept, transfer, hand-back, close), load and wrap-up follow.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from handoff.context import handoff_context
from handoff.directory import Directory
from handoff.ports import Offer, Person, RoutingNotifier
from handoff.presence import AgentPresence, ChosenStatus
from handoff.presence_board import LocalPresenceBoard, PresenceBoard
from handoff.queue import QueueEntry, RoutingQueue
from handoff.routing import choose_agent, estimate_wait_seconds, staffed_slots
from sessions.commands import AssignAgent, Transfer
from sessions.errors import DomainError
from sessions.events import Event
from sessions.handlers import QUEUE, agent_of
from sessions.leases import Leases, LocalLeases
from sessions.service import CommandOutcome, ConversationService
from sessions.store import ConversationQuery

__all__ = ["Router", "RouterSettings"]

log = logging.getLogger("tandem.router")

_ACCEPTED_REMEMBERED = 4096


@dataclass(frozen=True, slots=True)
class RouterSettings:
    offer_timeout_seconds: float = 20.0
    wrap_up_seconds: float = 10.0
    agent_capacity: int = 3
    # An agent whose every connection dropped keeps their chats this long, then they are
    # re-queued so no customer waits on someone who is gone.
    agent_lost_grace_seconds: float = 60.0
    average_handle_seconds: float = 180.0
    presence_heartbeat_seconds: float = 10.0
    # While anyone waits, look again this often: an offer another node made may have
    # lapsed, or that node may be gone, and nothing here would otherwise say so.
    dispatch_interval_seconds: float = 2.0
    # A customer waiting this long for a skill no ready agent has goes to any agent:
    # better a generalist now than a specialist never.
    skill_overflow_seconds: float = 60.0
    # Slots of `agent_capacity` a conversation with a call on takes (None: all of them,
    # so an agent on a call is offered nothing else).
    call_capacity_weight: int | None = None


class Router:
    def __init__(
        self,
        service: ConversationService,
        queue: RoutingQueue,
        directory: Directory,
        notifier: RoutingNotifier,
        settings: RouterSettings,
        clock: Callable[[], datetime],
        leases: Leases | None = None,
        board: PresenceBoard | None = None,
    ) -> None:
        self._service = service
        self._board: PresenceBoard = board or LocalPresenceBoard()
        # Across nodes, one node at a time may offer a given conversation.
        self._leases: Leases = leases or LocalLeases()
        self._queue = queue
        self._directory = directory
        self._notifier = notifier
        self._settings = settings
        self._clock = clock
        self._agents: dict[str, AgentPresence] = {}
        self._offers: dict[str, Offer] = {}
        # Recently accepted offers (offer -> agent, conversation), oldest first, so a
        # retried accept gets its original ack.
        self._accepted: dict[str, tuple[str, str]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._positions: dict[str, tuple[int, int]] = {}
        self._presence_sent: dict[str, tuple[str, int, frozenset[str]]] = {}
        self._assigned_at: dict[tuple[str, str], datetime] = {}
        self._handle_seconds = settings.average_handle_seconds
        self._dispatching = asyncio.Lock()

    # -- presence -------------------------------------------------------------------

    async def agent_connected(
        self, agent_id: str, name: str, skills: frozenset[str] = frozenset()
    ) -> AgentPresence:
        presence = self._agents.get(agent_id) or AgentPresence(
            agent_id,
            name,
            self._settings.agent_capacity,
            call_weight=self._settings.call_capacity_weight or self._settings.agent_capacity,
        )
        self._cancel_timer(f"lost:{agent_id}")
        presence = replace(presence, connections=presence.connections + 1, name=name, skills=skills)
        self._agents[agent_id] = presence
        # Always told, even if unchanged: a new tab needs to know where its agent stands.
        self._presence_sent[agent_id] = self._presence_key(presence)
        await self._notifier.presence(presence)
        await self._share(presence)
        await self._changed()
        return presence

    async def agent_disconnected(self, agent_id: str) -> None:
        presence = self._agents.get(agent_id)
        if presence is None:
            return
        presence = replace(presence, connections=max(presence.connections - 1, 0))
        self._agents[agent_id] = presence
        if presence.connections == 0:
            for offer in [o for o in self._offers.values() if o.agent_id == agent_id]:
                await self._lapse(offer, "agent_offline", set_not_ready=False)
            self._start_timer(
                f"lost:{agent_id}",
                self._settings.agent_lost_grace_seconds,
                partial(self._requeue_lost_agent, agent_id),
            )
        await self._changed()

    async def set_status(self, agent_id: str, chosen: ChosenStatus) -> AgentPresence:
        presence = self._agents.get(agent_id)
        if presence is None or presence.connections == 0:
            raise DomainError("not_found", f"agent {agent_id} is not connected")
        # Choosing 'ready' also ends wrap-up early: the agent says they are done.
        presence = replace(presence, chosen=chosen, wrap_up_until=None)
        self._agents[agent_id] = presence
        await self._changed()
        return self._agents[agent_id]

    async def on_call(self, agent_id: str, conversation_id: str, on_call: bool) -> None:
        """The agent's call leg in a conversation opened or closed: its weight changes.

        Told by whoever holds the media; a conversation the agent no longer has counts
        nothing, so a late "closed" is harmless.
        """
        presence = self._agents.get(agent_id)
        if presence is None or (conversation_id in presence.calls) == on_call:
            return
        self._agents[agent_id] = presence.with_call(conversation_id, on_call)
        await self._changed()

    def presence_of(self, agent_id: str) -> AgentPresence | None:
        return self._agents.get(agent_id)

    def agents(self) -> list[AgentPresence]:
        return sorted(self._agents.values(), key=lambda a: a.agent_id)

    # -- offers ---------------------------------------------------------------------

    async def accept(self, agent_id: str, offer_id: str, key: str) -> CommandOutcome:
        actor = f"agent:{agent_id}"
        if (accepted := self._accepted.get(offer_id)) is not None:
            accepted_agent, conversation_id = accepted
            if accepted_agent == agent_id:
                # A retry of an accept that went through: the service replays its ack.
                # Under another key it is a second accept of a spent offer.
                try:
                    return await self._service.execute(
                        conversation_id, AssignAgent(agent_id, actor), actor=actor, key=key
                    )
                except DomainError:
                    raise DomainError(
                        "not_found", f"offer {offer_id} was already accepted"
                    ) from None
        offer = self._offers.get(offer_id)
        if offer is None or offer.agent_id != agent_id:
            raise DomainError("not_found", f"no offer {offer_id} for you (expired or taken)")
        self._drop_offer(offer)
        try:
            outcome = await self._service.execute(
                offer.conversation_id, AssignAgent(agent_id, actor), actor=actor, key=key
            )
        except DomainError:
            # The conversation moved on (closed, handed elsewhere): it is not waiting anymore.
            self._queue.remove(offer.conversation_id)
            await self._leases.release(f"offer:{offer.conversation_id}")
            await self._changed()
            raise
        self._accepted[offer_id] = (agent_id, offer.conversation_id)
        if len(self._accepted) > _ACCEPTED_REMEMBERED:
            del self._accepted[next(iter(self._accepted))]  # the oldest
        self._take(agent_id, offer.conversation_id)
        self._queue.remove(offer.conversation_id)
        await self._changed()
        return outcome

    async def decline(self, agent_id: str, offer_id: str) -> None:
        offer = self._offers.get(offer_id)
        if offer is None or offer.agent_id != agent_id:
            raise DomainError("not_found", f"no offer {offer_id} for you (expired or taken)")
        self._drop_offer(offer)
        self._queue.mark_tried(offer.conversation_id, agent_id, self._clock())
        await self._leases.release(f"offer:{offer.conversation_id}")
        await self._changed()

    # -- transfers --------------------------------------------------------------------

    async def transfer(
        self,
        actor: str,
        conversation_id: str,
        *,
        to_agent: str | None = None,
        to_queue: str | None = None,
        note: str | None = None,
        key: str | None = None,
        reason: str = "transfer",
    ) -> CommandOutcome:
        """Move a conversation an agent serves to another agent or a queue, handing over
        a fresh context (summary and transcript include the agent's part)."""
        if to_agent is not None:
            target = self._agents.get(to_agent)
            if target is None or target.connections == 0:
                raise DomainError("not_found", f"agent {to_agent} is not online")
        state = await self._service.state(conversation_id)
        history = await self._service.history(conversation_id)
        previous = state.handoff_context if state else None
        context = handoff_context(history, reason, note, previous)
        return await self._service.execute(
            conversation_id,
            Transfer(actor, to_agent=to_agent, to_queue=to_queue, note=note, context=context),
            actor=actor,
            key=key,
        )

    # -- following the log -----------------------------------------------------------

    async def observe(self, event: Event) -> None:
        """Keep queue and presence in step with a conversation's log."""
        if event.type == "conversation.closed":
            await self._leave_queue(event.conversation_id, "closed")
            return
        if event.type != "handler.changed":
            return
        old, new = str(event.data["from"]), str(event.data["to"])
        context: dict[str, Any] = dict(event.data.get("context") or {})
        if old == QUEUE and new != QUEUE:
            await self._leave_queue(event.conversation_id, "taken")
        if (agent := agent_of(old)) is not None:
            self._release(agent, event.conversation_id, event.at)
            await self._notifier.unassigned(
                agent, event.conversation_id, str(event.data["reason"]), event.seq
            )
        if (agent := agent_of(new)) is not None:
            self._take(agent, event.conversation_id)
            customer = await self._customer_of(event.conversation_id)
            state = await self._service.state(event.conversation_id)
            handed = dict(state.handoff_context) if state else context
            await self._notifier.assigned(agent, event.conversation_id, customer, handed)
        if new == QUEUE:
            state = await self._service.state(event.conversation_id)
            # A transfer back to the queue should not bounce to the same agent.
            previous = agent_of(old)
            self._queue.put(
                QueueEntry.waiting(
                    event.conversation_id,
                    state.customer_id if state else "",
                    context,
                    event.at,
                    tried=frozenset({previous}) if previous else frozenset(),
                )
            )
        await self._changed()

    async def recover(self) -> int:
        """Queue what the log says is waiting: after a restart, or on a node that joined a
        cluster after those customers asked for a person. Returns how many."""
        waiting = await self._service.list(
            ConversationQuery(status="open", handler=QUEUE, limit=10_000)
        )
        # Oldest first: the queue is first come, first served, restarts included.
        now = self._clock()
        for state in sorted(waiting, key=lambda st: st.updated_at or now):
            self._queue.put(
                QueueEntry.waiting(
                    state.id,
                    state.customer_id,
                    dict(state.handoff_context),
                    state.updated_at or now,
                )
            )
        if waiting:
            log.info("recovered %d waiting conversations from the log", len(waiting))
            await self._changed()
        return len(waiting)

    def queue_position(self, conversation_id: str) -> int | None:
        """The position last told to the customer of a waiting conversation (1: next)."""
        told = self._positions.get(conversation_id)
        return told[0] if told is not None else None

    # -- supervisor view -------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        entries = []
        for position, entry in enumerate(self._queue.ordered(), start=1):
            entries.append(
                {
                    "conversation_id": entry.conversation_id,
                    "customer_id": entry.customer_id,
                    "queue": entry.queue,
                    "position": position,
                    "priority": entry.priority,
                    "waited_seconds": round((now - entry.enqueued_at).total_seconds(), 1),
                    "offered_to": next(
                        (
                            o.agent_id
                            for o in self._offers.values()
                            if o.conversation_id == entry.conversation_id
                        ),
                        None,
                    ),
                    "intent": entry.context.get("intent"),
                }
            )
        return {
            "entries": entries,
            "agents": [a.to_json(now) for a in self.agents()],
            "average_handle_seconds": round(self._handle_seconds, 1),
        }

    async def close(self) -> None:
        for task in list(self._timers.values()):
            task.cancel()
        await asyncio.gather(*self._timers.values(), return_exceptions=True)
        self._timers.clear()

    # -- internals -------------------------------------------------------------------

    async def _changed(self) -> None:
        """Offer what can be offered, then tell waiting customers where they stand."""
        async with self._dispatching:
            cluster = await self.everyone() if len(self._queue) else []
            await self._dispatch(cluster)
            await self._publish_positions(cluster)
            await self._publish_presence()

    async def _publish_presence(self) -> None:
        for agent in list(self._agents.values()):
            seen = self._presence_key(agent)
            if self._presence_sent.get(agent.agent_id) != seen:
                self._presence_sent[agent.agent_id] = seen
                await self._notifier.presence(agent)
                await self._share(agent)

    async def _share(self, agent: AgentPresence) -> None:
        if agent.connections == 0:
            await self._board.remove(agent.agent_id)
        else:
            ttl = self._settings.presence_heartbeat_seconds * 3
            await self._board.publish(agent.agent_id, agent.to_json(self._clock()), ttl)

    async def run(self) -> None:
        """Until cancelled: look at the queue again every dispatch interval while anyone
        waits, and refresh this node's agents on the board every heartbeat."""
        loop = asyncio.get_running_loop()
        tick = min(
            self._settings.dispatch_interval_seconds, self._settings.presence_heartbeat_seconds
        )
        shared_at = loop.time()
        while True:
            await asyncio.sleep(tick)
            try:
                if len(self._queue):
                    await self._changed()
                if loop.time() - shared_at >= self._settings.presence_heartbeat_seconds:
                    shared_at = loop.time()
                    for agent in list(self._agents.values()):
                        if agent.connections:
                            await self._share(agent)
            except Exception:
                log.exception("router tick failed; trying again next tick")

    async def everyone(self) -> list[dict[str, Any]]:
        """Every connected agent's presence, cluster-wide, by agent id."""
        board = await self._board.everyone()
        now = self._clock()
        for agent in self._agents.values():  # this node's view is the freshest of its own
            if agent.connections:
                board[agent.agent_id] = agent.to_json(now)
        return [board[agent_id] for agent_id in sorted(board)]

    async def _dispatch(self, cluster: list[dict[str, Any]]) -> None:
        now = self._clock()
        # A ready agent on another node: what this node's agents passed on is theirs to try
        # before anyone here is asked again.
        # Ready agents on other nodes, with the queues they serve (none: every queue).
        elsewhere = [
            frozenset(board.get("skills") or ())
            for board in cluster
            if board["status"] == "ready"
            and not (
                (mine := self._agents.get(str(board["agent_id"]))) is not None and mine.connections
            )
        ]
        for entry in self._queue.ordered():
            if any(o.conversation_id == entry.conversation_id for o in self._offers.values()):
                continue
            offered_to = {o.agent_id for o in self._offers.values()}
            waited = (now - entry.enqueued_at).total_seconds()
            overflow = waited >= self._settings.skill_overflow_seconds
            agent = choose_agent(entry, self._agents.values(), offered_to, now, overflow=overflow)
            # What this node's agents passed on is for a ready agent elsewhere to try first
            # (their node offers it), but only for one offer's time: declines are known
            # per node, and two nodes must not each wait for the other's agent.
            ready_elsewhere = any(not s or overflow or entry.queue in s for s in elsewhere)
            waited_since_tried = (
                (now - entry.tried_at).total_seconds() if entry.tried_at is not None else 0.0
            )
            patient = waited_since_tried < self._settings.offer_timeout_seconds
            if agent is None and entry.tried and not (ready_elsewhere and patient):
                # Everyone ready has passed on it once: start another round rather than
                # leave the customer waiting behind a list of refusals.
                self._queue.reset_tried(entry.conversation_id)
                entry = replace(entry, tried=frozenset())
                agent = choose_agent(
                    entry, self._agents.values(), offered_to, now, overflow=overflow
                )
            if agent is None:
                continue
            claim = f"offer:{entry.conversation_id}"
            if not await self._leases.claim(claim, self._settings.offer_timeout_seconds + 1):
                continue  # another node is offering it to one of its agents
            await self._make_offer(entry, agent, now)

    async def _make_offer(self, entry: QueueEntry, agent: AgentPresence, now: datetime) -> None:
        timeout = self._settings.offer_timeout_seconds
        offer = Offer(
            offer_id=f"o-{uuid.uuid4().hex[:16]}",
            conversation_id=entry.conversation_id,
            agent_id=agent.agent_id,
            customer=await self._customer_of(entry.conversation_id),
            context=entry.context,
            expires_at=now + timedelta(seconds=timeout),
            timeout_seconds=timeout,
        )
        self._offers[offer.offer_id] = offer
        self._start_timer(offer.offer_id, timeout, partial(self._expire, offer))
        log.info(
            "offer %s: conversation %s to agent %s (%.0fs)",
            offer.offer_id,
            offer.conversation_id,
            agent.agent_id,
            timeout,
        )
        await self._notifier.offer(offer)

    async def _expire(self, offer: Offer) -> None:
        if self._offers.get(offer.offer_id) is not offer:
            return
        log.info("offer %s to agent %s timed out", offer.offer_id, offer.agent_id)
        async with self._dispatching:
            await self._lapse(offer, "timeout", set_not_ready=True)
        await self._changed()

    async def _lapse(self, offer: Offer, reason: str, *, set_not_ready: bool) -> None:
        self._drop_offer(offer, cancel_timer=reason != "timeout")
        self._queue.mark_tried(offer.conversation_id, offer.agent_id, self._clock())
        await self._leases.release(f"offer:{offer.conversation_id}")
        await self._notifier.offer_withdrawn(offer, reason)
        presence = self._agents.get(offer.agent_id)
        if set_not_ready and presence is not None:
            # An agent who misses an offer is probably away: stop offering them work.
            self._agents[offer.agent_id] = replace(presence, chosen="not_ready")

    async def _leave_queue(self, conversation_id: str, reason: str) -> None:
        self._queue.remove(conversation_id)
        self._positions.pop(conversation_id, None)
        for offer in [o for o in self._offers.values() if o.conversation_id == conversation_id]:
            self._drop_offer(offer)
            await self._notifier.offer_withdrawn(offer, reason)
        # Taken or closed: if it comes back to the queue soon, any node may offer it.
        await self._leases.release(f"offer:{conversation_id}")

    async def _publish_positions(self, cluster: list[dict[str, Any]]) -> None:
        # Every node computes the same figures from the cluster's board, so a customer
        # told by two nodes hears one story.
        slots = staffed_slots((str(a["status"]), int(a["capacity"])) for a in cluster)
        waiting = self._queue.ordered()
        for gone in set(self._positions) - {e.conversation_id for e in waiting}:
            del self._positions[gone]
        for position, entry in enumerate(waiting, start=1):
            eta = estimate_wait_seconds(position, slots, self._handle_seconds)
            if self._positions.get(entry.conversation_id) != (position, eta):
                self._positions[entry.conversation_id] = (position, eta)
                await self._notifier.queue_position(entry.conversation_id, position, eta)

    def _presence_key(self, agent: AgentPresence) -> tuple[str, int, frozenset[str]]:
        return (agent.status(self._clock()), agent.load, agent.conversations)

    def _take(self, agent_id: str, conversation_id: str) -> None:
        presence = self._agents.get(agent_id)
        if presence is None or conversation_id in presence.conversations:
            return
        now = self._clock()
        self._agents[agent_id] = presence.with_conversation(conversation_id, now)
        self._assigned_at[(agent_id, conversation_id)] = now

    def _release(self, agent_id: str, conversation_id: str, at: datetime) -> None:
        presence = self._agents.get(agent_id)
        if presence is None:
            return
        started = self._assigned_at.pop((agent_id, conversation_id), None)
        if started is not None:
            # Exponential average: recent handle times matter more to the next estimate.
            seconds = max((at - started).total_seconds(), 0.0)
            self._handle_seconds = 0.8 * self._handle_seconds + 0.2 * seconds
        wrap = self._settings.wrap_up_seconds
        until = self._clock() + timedelta(seconds=wrap) if wrap > 0 else None
        self._agents[agent_id] = presence.without_conversation(conversation_id, until)
        if until is not None:
            self._start_timer(f"wrap:{agent_id}", wrap, self._changed)

    async def _requeue_lost_agent(self, agent_id: str) -> None:
        presence = self._agents.get(agent_id)
        if presence is None or presence.connections > 0:
            return
        # Gone for good, not a blip: when they come back they start 'not ready'.
        self._agents[agent_id] = replace(presence, chosen="not_ready")
        for conversation_id in sorted(presence.conversations):
            log.warning(
                "agent %s lost for %.0fs: re-queueing conversation %s",
                agent_id,
                self._settings.agent_lost_grace_seconds,
                conversation_id,
            )
            try:
                await self.transfer(
                    "system", conversation_id, to_queue="general", reason="agent_lost"
                )
            except DomainError as error:
                log.info("re-queue of %s skipped: %s", conversation_id, error.message)

    async def _customer_of(self, conversation_id: str) -> Person:
        state = await self._service.state(conversation_id)
        customer_id = state.customer_id if state else ""
        person = await self._directory.get(customer_id)
        return person or Person(customer_id, "customer", customer_id)

    def _drop_offer(self, offer: Offer, *, cancel_timer: bool = True) -> None:
        self._offers.pop(offer.offer_id, None)
        if cancel_timer:
            self._cancel_timer(offer.offer_id)
        else:
            self._timers.pop(offer.offer_id, None)

    def _start_timer(self, name: str, delay: float, action: Callable[[], Awaitable[None]]) -> None:
        self._cancel_timer(name)

        async def run() -> None:
            try:
                await asyncio.sleep(delay)
                self._timers.pop(name, None)
                await action()
            except Exception:
                log.exception("router timer %s failed", name)

        self._timers[name] = asyncio.create_task(run(), name=f"router:{name}")

    def _cancel_timer(self, name: str) -> None:
        if task := self._timers.pop(name, None):
            task.cancel()
