"""The conductor follows every new event and makes the automatic parts act on it.

It keeps routing in step with the log and lets the handler that serves a conversation
(today the banking bot) answer the customer. Reactions run one conversation at a time,
in log order, so a bot never answers out of turn.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from handoff.context import handoff_context
from handoff.handlers import Handler, Reply, Say, Task
from handoff.router import Router
from handoff.serial import KeyedSerialRunner
from handoff.understanding.routes import IntentRoutes
from sessions import commands
from sessions.errors import DomainError
from sessions.events import Event
from sessions.handlers import BOT
from sessions.leases import Leases, LocalLeases
from sessions.service import CommandOutcome, ConversationService

__all__ = ["Conductor"]

log = logging.getLogger("tandem.conductor")

_REACTION_LEASE_SECONDS = 300.0


class Conductor:
    def __init__(
        self,
        service: ConversationService,
        router: Router,
        bot: Handler,
        leases: Leases | None = None,
        routes: IntentRoutes | None = None,
    ) -> None:
        self._service = service
        self._router = router
        self._bot = bot
        # A customer's own "talk to a person" goes to the team of what they talked about.
        self._routes = routes or IntentRoutes({})
        # Every node sees every event; the bot answers each one on one node only.
        self._leases: Leases = leases or LocalLeases()
        self._runner = KeyedSerialRunner("conductor")
        # Who serves each open conversation, as last seen on the feed.
        self._handlers: dict[str, str] = {}

    def notice(self, event: Event) -> None:
        """Take a new event from the feed; any reaction runs later, in its own task."""
        if self._needs_reaction(event):
            self._runner.submit(event.conversation_id, partial(self._react, event))

    def _needs_reaction(self, event: Event) -> bool:
        """Most events are chat between a customer and an agent: nothing to do. Telling
        so from the feed alone, without a task or a store read, keeps the chat path cheap."""
        if event.type == "handler.changed":
            self._handlers[event.conversation_id] = str(event.data["to"])
            return True
        if event.type == "conversation.closed":
            self._handlers.pop(event.conversation_id, None)
            return True
        if event.type == "message.sent" and event.actor.startswith("customer:"):
            # Unknown (a conversation older than this feed): let `_react` look it up.
            return self._handlers.get(event.conversation_id, BOT) == BOT
        return False

    async def idle(self) -> None:
        await self._runner.join()

    async def close(self) -> None:
        await self._runner.close()

    async def request_agent(
        self,
        conversation_id: str,
        actor: str,
        key: str,
        note: str | None,
        *,
        reason: str = "customer_request",
        context: Mapping[str, Any] | None = None,
        queue: str | None = None,
    ) -> CommandOutcome:
        """A customer's "talk to a person" (or a supervisor's, `reason` "supervisor"):
        queue with what the bot learnt so far, or with `context` when the caller knows
        better (the digital human's call); to the topic's queue unless `queue` says."""
        if context is None:
            history = await self._service.history(conversation_id)
            context = handoff_context(history, reason, note)
        route = self._routes.route(context.get("intent"))
        context = {**context, "priority": max(int(context.get("priority") or 0), route.priority)}
        return await self._service.execute(
            conversation_id,
            commands.Escalate(actor, reason, queue or route.queue, context=context),
            actor=actor,
            key=key,
        )

    async def _react(self, event: Event) -> None:
        await self._router.observe(event)
        if event.type == "handler.changed" and event.data["to"] == BOT:
            if event.data["reason"] == "call_ended" or not await self._claim(event):
                # After a call with the digital human the chat bot takes over quietly:
                # the customer was just talking to it.
                return
            history = await self._service.history(event.conversation_id)
            returning = event.data["reason"] != "start"
            replies = await self._bot.greet(history, returning=returning)
            await self._perform(event, replies)
        elif event.type == "message.sent" and event.actor.startswith("customer:"):
            state = await self._service.state(event.conversation_id)
            if state is None or state.handler != BOT or not await self._claim(event):
                return
            history = await self._service.history(event.conversation_id, 0, event.seq)
            replies = await self._bot.reply(history, str(event.data["text"]))
            await self._perform(event, replies)

    async def _claim(self, event: Event) -> bool:
        return await self._leases.claim(
            f"react:{event.conversation_id}:{event.seq}", _REACTION_LEASE_SECONDS
        )

    async def _perform(self, cause: Event, replies: Sequence[Reply]) -> None:
        for index, reply in enumerate(replies):
            # Keyed by the event replied to: reacting twice to one event (a replayed
            # feed, a second node) appends nothing twice.
            key = f"{cause.conversation_id}:{cause.seq}:{index}"
            try:
                await self._service.execute(
                    cause.conversation_id, _command(reply), actor="bot", key=key
                )
            except DomainError as error:
                # The customer was handed on while the bot was answering: drop the rest.
                log.info("bot reply to %s dropped: %s", cause.conversation_id, error.message)
                return


def _command(reply: Reply) -> commands.Command:
    if isinstance(reply, Say):
        meta: dict[str, Any] = {**reply.data, "kind": reply.kind, "intent": reply.intent}
        if reply.suggestions:
            meta["suggestions"] = list(reply.suggestions)
        return commands.SendMessage("bot", reply.text, meta)
    if isinstance(reply, Task):
        return commands.RecordTask(
            "bot", reply.flow, reply.action, reply.ok, reply.slots, reply.result
        )
    context: dict[str, Any] = {
        "reason": reply.reason,
        "intent": reply.intent,
        "summary": reply.summary,
        "priority": reply.priority,
        "transcript": [{"actor": a, "text": t} for a, t in reply.transcript],
    }
    if reply.confidence is not None:
        context["confidence"] = round(reply.confidence, 3)
    if reply.slots:
        context["slots"] = dict(reply.slots)
    return commands.Escalate("bot", reply.reason, queue=reply.queue, context=context)
