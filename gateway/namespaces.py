"""socket.io namespaces: thin edges.  validate -> command -> service -> ack.

Every command answers with an ack, `{ok: true, ...}` or `{ok: false, error: {code,
message}}`; an unknown event gets `unknown_event` rather than silence, so a client
never waits on a timeout to learn it spoke wrongly.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import socketio

from gateway import schemas
from gateway.access import check_can_read
from gateway.auth import AuthError, Principal
from gateway.calls_handlers import agent_call_commands, customer_call_commands
from gateway.context import Services
from gateway.notifier import agent_room, conversation_room
from handoff.ports import Role
from handoff.tickets import Ticket, TicketError
from sessions import commands
from sessions.errors import DomainError
from sessions.events import Event
from sessions.service import CommandOutcome
from sessions.state import ConversationState

__all__ = ["AgentNamespace", "CustomerNamespace", "SupervisorNamespace"]

log = logging.getLogger("tandem.socket")

Ack = dict[str, Any]
CommandHandler = Callable[[str, Principal, Any], Awaitable[Ack]]


def ok(outcome: CommandOutcome | None = None, **extra: Any) -> Ack:
    ack: Ack = {"ok": True}
    if outcome is not None:
        ack["conversation_id"] = outcome.conversation_id
        if outcome.events:
            ack["seq"] = outcome.seq
            ack["seqs"] = outcome.seqs
    ack.update(extra)
    return ack


def _refused(failure: AuthError) -> Exception:
    # Clients see `message` as the error's text and `data` as {code, message}.
    refused: Exception = socketio.exceptions.ConnectionRefusedError(
        failure.message, failure.to_json()
    )
    return refused


def error(code: str, message: str) -> Ack:
    return {"ok": False, "error": {"code": code, "message": message}}


class _Namespace(socketio.AsyncNamespace):  # type: ignore[misc]
    role: ClassVar[Role]

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace)
        self.services = services
        self.principals: dict[str, Principal] = {}
        self.commands: dict[str, CommandHandler] = {
            "resume": self._resume,
            "typing": self._typing,
        }
        if self.role != "supervisor":
            self.commands["message.send"] = self._send
            self.commands["read"] = self._read

    # -- connection ------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            principal = self.services.verifier.verify(token)
        except AuthError as failure:
            log.info("%s: refused connection: %s", self.namespace, failure.message)
            raise _refused(failure) from None
        if principal.role != self.role:
            raise _refused(AuthError("forbidden", f"{self.namespace} is for {self.role}s"))
        self.principals[sid] = principal
        await self.connected(sid, principal)

    async def connected(self, sid: str, principal: Principal) -> None:
        return None

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        principal = self.principals.pop(sid, None)
        self.services.delivery.forget(sid)
        if principal is not None:
            await self.disconnected(sid, principal)

    async def disconnected(self, sid: str, principal: Principal) -> None:
        return None

    # -- dispatch --------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        sid, data = args[0], args[1:]
        # python-socketio hands a client's event named "connect" or "disconnect" to the
        # same hook as the real ones. Tell them apart: a real connect comes before the
        # socket is ours, a real disconnect after python-socketio stopped counting it as
        # connected. A forged one must not log anyone in or out.
        if event == "connect" and sid not in self.principals:
            return await super().trigger_event(event, *args)
        if event == "disconnect" and not self.server.manager.is_connected(sid, self.namespace):
            return await super().trigger_event(event, *args)
        principal = self.principals.get(sid)
        if principal is None:
            return error("unauthorized", "not connected")
        handler = self.commands.get(event)
        if handler is None:
            return error("unknown_event", f"{self.namespace} has no event {event!r}")
        if len(data) > 1:
            return error("invalid_payload", "send one JSON object per command")
        try:
            return await handler(sid, principal, data[0] if data else None)
        except (schemas.PayloadError, DomainError) as failure:
            return error(failure.code, failure.message)
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("%s %s failed (incident %s)", self.namespace, event, incident)
            return error("internal", f"internal error, incident {incident}")

    # -- shared commands ----------------------------------------------------------------

    async def _resume(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Resume, payload)
        state = await self._readable(principal, command.conversation_id)
        if command.after_seq > state.last_seq:
            # A client ahead of the log would wait for seqs that are not coming.
            raise schemas.PayloadError(
                "invalid_payload", f"after_seq: must be at most {state.last_seq}"
            )
        last = await self.follow(sid, command.conversation_id, command.after_seq)
        return ok(conversation_id=command.conversation_id, last_seq=last)

    async def _typing(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Typing, payload)
        state = await self._readable(principal, command.conversation_id)
        if state.status != "open" or self.role == "supervisor":
            return ok()
        data = {
            "conversation_id": command.conversation_id,
            "actor": principal.actor,
            "active": command.active,
        }
        room = conversation_room(command.conversation_id)
        for namespace in ("/customer", "/agent", "/supervisor"):
            await self.server.emit("typing", data, to=room, namespace=namespace, skip_sid=sid)
        return ok()

    async def follow(self, sid: str, conversation_id: str, after_seq: int) -> int:
        await self.enter_room(sid, conversation_room(conversation_id))
        return await self.services.delivery.follow(sid, self.namespace, conversation_id, after_seq)

    async def _readable(self, principal: Principal, conversation_id: str) -> ConversationState:
        state = await self.services.conversations.state(conversation_id)
        return check_can_read(principal, state, conversation_id)

    async def _execute(
        self, principal: Principal, conversation_id: str, command: commands.Command, key: str
    ) -> Ack:
        outcome = await self.services.conversations.execute(
            conversation_id, command, actor=principal.actor, key=key
        )
        return ok(outcome)

    async def _send(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.SendMessage, payload)
        text = self._text(command.text)
        outcome = await self.services.conversations.execute(
            command.conversation_id,
            commands.SendMessage(principal.actor, text),
            actor=principal.actor,
            key=command.key,
        )
        (event,) = outcome.events
        if not outcome.replayed:
            # The sender has its message from this ack; echoing it would double the
            # sender's traffic on the busiest path. Its other tabs still get the event.
            self.services.delivery.acked(sid, outcome.conversation_id, event.seq)
        return ok(outcome, at=event.at.isoformat())

    async def _read(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.MarkRead, payload)
        return await self._execute(
            principal,
            command.conversation_id,
            commands.MarkRead(principal.actor, command.up_to_seq),
            command.key,
        )

    def _text(self, text: str) -> str:
        limit = self.services.settings.max_message_chars
        if len(text) > limit:
            raise schemas.PayloadError(
                "message_too_long", f"text: {len(text)} characters, at most {limit} allowed"
            )
        return text


class CustomerNamespace(_Namespace):
    role = "customer"

    def __init__(self, services: Services) -> None:
        super().__init__("/customer", services)
        self.commands.update(
            {
                "conversation.start": self._start,
                "agent.request": self._agent_request,
                **customer_call_commands(services.signaling),
            }
        )

    async def _start(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Start, payload)
        outcome = await self.services.conversations.start(
            principal.id, command.channel, key=command.key
        )
        await self.follow(sid, outcome.conversation_id, 0)
        return ok(outcome, created=outcome.created)

    async def _agent_request(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.AgentRequest, payload)
        await self._readable(principal, command.conversation_id)
        outcome = await self.services.conductor.request_agent(
            command.conversation_id, principal.actor, command.key, command.reason
        )
        return ok(outcome)


class AgentNamespace(_Namespace):
    role = "agent"

    def __init__(self, services: Services) -> None:
        super().__init__("/agent", services)
        self.commands.update(
            {
                "presence.set": self._presence,
                "offer.accept": self._accept,
                "offer.decline": self._decline,
                "conversation.handback": self._handback,
                "conversation.transfer": self._transfer,
                "conversation.close": self._close,
                "ticket.draft": self._ticket_draft,
                "ticket.file": self._ticket_file,
                **agent_call_commands(services.signaling),
            }
        )

    async def connected(self, sid: str, principal: Principal) -> None:
        await self.enter_room(sid, agent_room(principal.id))
        await self.services.router.agent_connected(principal.id, principal.name, principal.skills)

    async def disconnected(self, sid: str, principal: Principal) -> None:
        await self.services.router.agent_disconnected(principal.id)

    async def _presence(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.PresenceSet, payload)
        presence = await self.services.router.set_status(principal.id, command.status)
        return ok(**presence.to_json(self.services.clock()))

    async def _accept(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.OfferAccept, payload)
        outcome = await self.services.router.accept(principal.id, command.offer_id, command.key)
        await self.follow(sid, outcome.conversation_id, 0)
        return ok(outcome)

    async def _decline(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.OfferDecline, payload)
        await self.services.router.decline(principal.id, command.offer_id)
        return ok()

    async def _handback(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Handback, payload)
        return await self._execute(
            principal,
            command.conversation_id,
            commands.HandBack(principal.actor, to=command.to, note=command.note),
            command.key,
        )

    async def _transfer(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Transfer, payload)
        if (command.to_agent is None) == (command.to_queue is None):
            raise schemas.PayloadError(
                "invalid_payload", "give exactly one of to_agent and to_queue"
            )
        outcome = await self.services.router.transfer(
            principal.actor,
            command.conversation_id,
            to_agent=command.to_agent,
            to_queue=command.to_queue,
            note=command.note,
            key=command.key,
        )
        return ok(outcome)

    async def _close(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.Close, payload)
        return await self._execute(
            principal,
            command.conversation_id,
            commands.CloseConversation(principal.actor, command.reason),
            command.key,
        )

    async def _ticket_draft(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.TicketDraft, payload)
        history = await self._served_history(principal, command.conversation_id)
        ticket = await self.services.tickets.draft(history)
        return ok(conversation_id=command.conversation_id, ticket=ticket.to_json())

    async def _ticket_file(self, sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.TicketFile, payload)
        await self._served_history(principal, command.conversation_id)
        try:
            ticket = Ticket.from_json(command.ticket, taxonomy=self.services.tickets.taxonomy)
        except TicketError as problems:
            raise schemas.PayloadError("invalid_payload", "; ".join(problems.problems)) from None
        return await self._execute(
            principal,
            command.conversation_id,
            commands.FileTicket(principal.actor, ticket.to_json()),
            command.key,
        )

    async def _served_history(self, principal: Principal, conversation_id: str) -> list[Event]:
        """The log of a conversation this agent serves or served: tickets are written in
        wrap-up, after the conversation left them."""
        if await self.services.conversations.state(conversation_id) is None:
            raise DomainError("not_found", f"no conversation {conversation_id}")
        history = await self.services.conversations.history(conversation_id)
        if not any(
            e.type == "handler.changed" and e.data.get("to") == principal.actor for e in history
        ):
            raise DomainError("forbidden", f"you have not served conversation {conversation_id}")
        return history


class SupervisorNamespace(_Namespace):
    role = "supervisor"

    def __init__(self, services: Services) -> None:
        super().__init__("/supervisor", services)
        self.commands["queue.snapshot"] = self._snapshot
        self.commands["conversation.take_over"] = self._take_over

    async def connected(self, sid: str, principal: Principal) -> None:
        await self.enter_room(sid, "supervisors")

    async def _snapshot(self, sid: str, principal: Principal, payload: Any) -> Ack:
        schemas.parse(schemas.Empty, payload)
        snapshot = self.services.router.snapshot()
        snapshot["agents"] = await self.services.router.everyone()  # the whole cluster
        humans = self.services.signaling.digital_humans
        # This node's: a call's media lives on the node that answered it.
        snapshot["digital_human_calls"] = humans.serving() if humans is not None else []
        return ok(**snapshot)

    async def _take_over(self, sid: str, principal: Principal, payload: Any) -> Ack:
        """A person takes over from the bot or the digital human: to the queue (of the
        topic, or `to_queue`), offered with what the digital human heard and said."""
        command = schemas.parse(schemas.TakeOver, payload)
        cid = command.conversation_id
        state = await self.services.conversations.state(cid)
        if state is None:
            raise DomainError("not_found", f"no conversation {cid}")
        context = None
        humans = self.services.signaling.digital_humans
        if state.call is not None and humans is not None:
            session = humans.session(state.call.call_id)
            if session is not None and session.serving:
                context = session.handover_context("supervisor", command.note)
        outcome = await self.services.conductor.request_agent(
            cid,
            principal.actor,
            command.key,
            command.note,
            reason="supervisor",
            context=context,
            queue=command.to_queue,
        )
        return ok(outcome)
