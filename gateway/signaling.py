"""Call signaling: a conversation's call in the media (`media.Calls`) and in its log, in step.

    socket.io command -> rules (a dry run of `decide`) -> media (offer/answer) -> log -> ack

The media is decided first where it can fail on the client's input (an SDP aiortc will
not answer), so the log never says a call started or was answered that did not; where
only the rules can refuse (hold, transfer), the log goes first. What the media does on
its own (a connection lost, a transfer completing, the customer hanging up by closing
the page) comes back through `Calls`' callbacks and is logged by the "system".

The media of a call lives in the process that created it (the customer's node). A call
id names that node, so a command reaching another node is told `wrong_node` rather
than `not_found`; relaying signaling between nodes is not done yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from gateway import schemas
from gateway.access import check_can_read
from gateway.auth import Principal
from gateway.digital_human import DigitalHumans
from gateway.notifier import agent_room, conversation_room
from gateway.speech import SpeechRuntime
from handoff.conductor import Conductor
from handoff.directory import Directory
from handoff.router import Router
from handoff.serial import KeyedSerialRunner
from media.assets import CallAssets
from media.call import (
    DEFAULT_CONNECT_TIMEOUT,
    Call,
    CallEnded,
    CallError,
    CallEvent,
    CallSummary,
    NegotiationError,
)
from media.calls import Calls
from media.ice import IceSettings
from media.leg import Party
from media.recording import Recorder
from media.speech.ports import Segment
from media.transcription import CallTranscriber
from sessions import commands
from sessions.decide import decide
from sessions.errors import DomainError
from sessions.events import Event
from sessions.handlers import BOT, DIGITAL_HUMAN, NONE, agent_of, is_automatic
from sessions.masking import mask
from sessions.service import CommandOutcome, ConversationService, utc_now
from sessions.state import ConversationState

__all__ = ["CallRefused", "CallSignaling", "Emit"]

log = logging.getLogger("tandem.calls")

Reply = dict[str, Any]
# emit(event_name, payload, room or rooms, namespace)
Emit = Callable[[str, dict[str, Any], str | list[str], str], Awaitable[None]]

_REPLIES_REMEMBERED = 1024
_ENDINGS_REMEMBERED = 256
_FINISH_GRACE_SECONDS = 5.0
# How often a queued caller's slate catches up with their queue position.
_QUEUE_POSITION_SECONDS = 1.0
# The log events the call follows: who serves the conversation decides who is on the call.
_FOLLOWED = frozenset({"call.started", "handler.changed", "conversation.closed"})


class CallRefused(schemas.PayloadError):
    """A call command refused by the media or by where the call lives (`code`, `message`)."""


@dataclass(frozen=True, slots=True)
class CallSettings:
    enabled: bool
    ice: IceSettings
    recordings_dir: Path
    node_id: str
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


@contextlib.contextmanager
def _media_errors() -> Iterator[None]:
    """The media's refusals as acks a client can act on."""
    try:
        yield
    except NegotiationError as error:
        raise CallRefused("invalid_payload", f"sdp: {error}") from None
    except CallEnded as error:
        raise CallRefused("not_found", f"{error}") from None
    except CallError as error:
        raise CallRefused("invalid_state", f"{error}") from None


class CallSignaling:
    """The calls of this process and their place in the conversations' logs.

    Owns the `Calls` (created once the pre-encoded queue/hold audio and slate are built,
    on a thread, at start-up), the recorders, and the reactions to the log: a call
    rings whichever agent the conversation is handed to, leaves an agent the
    conversation leaves, and ends when the conversation closes.
    """

    def __init__(
        self,
        settings: CallSettings,
        *,
        conversations: ConversationService,
        router: Router,
        conductor: Conductor,
        directory: Directory,
        emit: Emit,
        clock: Callable[[], datetime] = utc_now,
        speech: SpeechRuntime | None = None,
        digital_humans: DigitalHumans | None = None,
    ) -> None:
        self._settings = settings
        self._speech = speech
        self._digital_humans = digital_humans
        self._conversations = conversations
        self._router = router
        self._conductor = conductor
        self._directory = directory
        self._emit_raw = emit
        self._clock = clock
        self._tag = hashlib.sha256(settings.node_id.encode()).hexdigest()[:8]
        self._building: asyncio.Future[CallAssets] | None = None
        self._calls: Calls | None = None
        self._recorders: dict[str, Recorder] = {}
        # Calls whose `call.started` is in the log: only those get a `call.ended`.
        self._logged: set[str] = set()
        # Agents with a leg (talking or connecting) per call, as the router was told.
        self._agents_on: dict[str, set[str]] = {}
        # A retried call.start / call.answer (same sender and key) gets the same answer.
        self._replies: OrderedDict[tuple[str, str], Reply] = OrderedDict()
        # The logging of each call's end, so a hang-up can answer with its seq.
        self._endings: OrderedDict[str, asyncio.Task[CommandOutcome | None]] = OrderedDict()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner = KeyedSerialRunner("calls")
        self._closing = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Begin building the call assets (encoding blocks a thread for ~0.2 s)."""
        if self._settings.enabled and self._building is None:
            self._building = asyncio.ensure_future(asyncio.to_thread(CallAssets.build))
            self._spawn(self._follow_queue())
            if self._digital_humans is not None:
                self._digital_humans.start()

    async def ready(self) -> Calls:
        """The calls, once the assets are built (the first call may wait for them)."""
        if not self._settings.enabled:
            raise CallRefused("calls_disabled", "calls are not enabled on this server")
        if self._closing:
            raise CallRefused("calls_disabled", "the server is shutting down")
        if self._calls is None:
            self.start()
            assert self._building is not None
            assets = await asyncio.shield(self._building)
            if self._calls is None:
                self._calls = Calls(
                    ice=self._settings.ice,
                    assets=assets,
                    on_ended=self._ended,
                    on_event=self._media_event,
                    connect_timeout=self._settings.connect_timeout,
                )
        return self._calls

    @property
    def digital_humans(self) -> DigitalHumans | None:
        return self._digital_humans

    @property
    def calls(self) -> Calls:
        """The live calls (available once the first call, or `ready()`, built them)."""
        if self._calls is None:
            raise RuntimeError("no calls yet: await ready() first")
        return self._calls

    async def close(self) -> None:
        """End every call (logging each end while the store is still open)."""
        self._closing = True
        if self._building is not None:
            with contextlib.suppress(Exception):
                await self._building
        if self._calls is not None:
            await self._calls.close("shutdown")
        endings = list(self._endings.values())
        if endings:
            await asyncio.wait(endings, timeout=_FINISH_GRACE_SECONDS)
        await self._runner.close()
        if self._digital_humans is not None:
            await self._digital_humans.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ commands

    async def start_call(self, principal: Principal, command: schemas.CallStart) -> Reply:
        """The customer's offer: answered at once (they hear the queue audio), logged."""
        calls = await self.ready()
        actor = principal.actor
        if (replay := self._replies.get((actor, command.key))) is not None:
            return replay
        cid = command.conversation_id
        state = check_can_read(principal, await self._conversations.state(cid), cid)
        call_id = f"call-{self._tag}-{uuid.uuid4().hex[:20]}"
        self._rule(state, commands.StartCall(actor, call_id, command.media))
        call = calls.create(call_id, cid, media=command.media)
        try:
            with _media_errors():
                answer = await call.connect_customer(command.sdp)
            outcome = await self._conversations.execute(
                cid, commands.StartCall(actor, call_id, call.media), actor=actor, key=command.key
            )
            if outcome.replayed:
                # The key started another call, whose answer this node no longer has.
                raise CallRefused("invalid_state", f"key {command.key!r} was used already")
        except BaseException:
            await call.end("not_started")
            raise
        self._logged.add(call_id)
        self._transcribe(call)
        reply = {
            "conversation_id": cid,
            "call_id": call_id,
            "media": call.media,
            "sdp": answer,
            "seq": outcome.seq,
            "seqs": outcome.seqs,
        }
        self._remember((actor, command.key), reply)
        return reply

    async def answer(self, principal: Principal, command: schemas.CallAnswer) -> Reply:
        """The serving agent's offer: first answer, or after a transfer (make before break)."""
        actor = principal.actor
        if (replay := self._replies.get((actor, command.key))) is not None:
            return replay
        call = self._held(command.call_id)
        cid = call.conversation_id
        state = await self._state(cid)
        self._rule(state, commands.AnswerCall(actor, call.call_id))
        if call.agent_id == principal.id:
            raise CallRefused("invalid_state", "you are already on this call")
        first = call.agent_id is None
        with _media_errors():
            if first:
                answer = await call.connect_agent(principal.id, command.sdp)
            else:
                answer = await call.transfer_to(principal.id, command.sdp)
            if call.held:
                # The new agent takes the customer off hold by answering.
                call.unhold()
        await self._sync_agents(call)
        try:
            outcome = await self._conversations.execute(
                cid, commands.AnswerCall(actor, call.call_id), actor=actor, key=command.key
            )
        except DomainError:
            # The conversation moved on while the media was set up. A first answer's leg
            # goes; a transfer's cannot be taken off alone, and the conversation's next
            # move (which refused this) drops or replaces it anyway.
            if first:
                await call.drop_agent("answer_refused")
            raise
        reply = {
            "conversation_id": cid,
            "call_id": call.call_id,
            "media": call.media,
            "sdp": answer,
            "seq": outcome.seq,
            "seqs": outcome.seqs,
        }
        self._remember((actor, command.key), reply)
        return reply

    async def hold(self, principal: Principal, command: schemas.CallRef, held: bool) -> Reply:
        call = self._held(command.call_id)
        rule: commands.Command = (
            commands.HoldCall(principal.actor, call.call_id)
            if held
            else commands.ResumeCall(principal.actor, call.call_id)
        )
        outcome = await self._conversations.execute(
            call.conversation_id, rule, actor=principal.actor, key=command.key
        )
        with _media_errors():
            if held:
                call.hold()
            else:
                call.unhold()
        return self._reply(call, outcome, held=held)

    async def mute(self, principal: Principal, command: schemas.CallMute) -> Reply:
        """Not logged: muting is the party's own business, like a hand over the phone."""
        call = self._held(command.call_id)
        party = await self._party(principal, call)
        with _media_errors():
            call.mute(party, command.muted)
        return {
            "conversation_id": call.conversation_id,
            "call_id": call.call_id,
            "muted": command.muted,
        }

    async def renegotiate(self, principal: Principal, command: schemas.CallRenegotiate) -> Reply:
        """A party's new offer (adding video); the first video is logged as an upgrade."""
        call = self._held(command.call_id)
        party = await self._party(principal, call)
        with _media_errors():
            answer = await call.renegotiate(party, command.sdp)
        outcome = None
        state = await self._state(call.conversation_id)
        if call.media == "video" and state.call is not None and state.call.media != "video":
            # An agent the conversation has moved on from may still renegotiate (until
            # the next agent answers); the log then says the system saw the upgrade.
            actor = principal.actor
            if principal.role == "agent" and state.handler != actor:
                actor = "system"
            outcome = await self._conversations.execute(
                call.conversation_id,
                commands.UpgradeCall(actor, call.call_id),
                actor=actor,
                key=command.key or f"{call.call_id}:upgraded",
            )
        return {**self._reply(call, outcome), "sdp": answer}

    async def transfer(self, principal: Principal, command: schemas.CallTransfer) -> Reply:
        """The conversation moves (the router's transfer); the call follows it (the feed)."""
        call = self._held(command.call_id)
        outcome = await self._router.transfer(
            principal.actor,
            call.conversation_id,
            to_agent=command.to_agent,
            to_queue=command.to_queue,
            note=command.note,
            key=command.key,
        )
        return self._reply(call, outcome)

    async def hangup(self, principal: Principal, command: schemas.CallRef) -> Reply:
        call = self._held(command.call_id)
        state = await self._state(call.conversation_id)
        if principal.role == "customer":
            check_can_read(principal, state, call.conversation_id)
            reason = "customer_hangup"
        elif state.handler == principal.actor:
            reason = "agent_hangup"
        elif call.agent_id == principal.id:
            # Transferred away and still talking until the next agent answers: this
            # agent leaves; the call goes on.
            if call.stats()["legs"].get("agent_incoming") is not None:
                raise CallRefused(
                    "invalid_state", "the next agent is connecting; your leg closes then"
                )
            await call.drop_agent("hangup")
            return {"conversation_id": call.conversation_id, "call_id": call.call_id, "left": True}
        else:
            raise DomainError("forbidden", f"call {call.call_id} is not yours")
        summary = await call.end(reason)
        outcome = await self._endings[call.call_id] if call.call_id in self._endings else None
        return {
            **self._reply(call, outcome),
            "reason": summary.reason,
            "duration_seconds": summary.duration_seconds,
            "talk_seconds": summary.talk_seconds,
            "held_seconds": summary.held_seconds,
        }

    async def record(self, principal: Principal, command: schemas.CallRecord) -> Reply:
        """Start recording with the customer's consent (logged); it stops at hang-up."""
        call = self._held(command.call_id)
        cid = call.conversation_id
        rule = commands.StartRecording(principal.actor, call.call_id, command.consent)
        self._rule(await self._state(cid), rule)
        if call.call_id in self._recorders:
            raise CallRefused("invalid_state", f"call {call.call_id} is already being recorded")
        recorder = Recorder(call, self._settings.recordings_dir)
        self._recorders[call.call_id] = recorder
        try:
            with _media_errors():
                try:
                    await recorder.start()
                except OSError:
                    log.exception("cannot write recordings to %s", self._settings.recordings_dir)
                    raise CallRefused(
                        "recording_unavailable", "recordings cannot be written now"
                    ) from None
            outcome = await self._conversations.execute(
                cid, rule, actor=principal.actor, key=command.key
            )
        except BaseException:
            self._recorders.pop(call.call_id, None)
            if recorder.path is not None:
                await recorder.stop()
                recorder.path.unlink(missing_ok=True)
            raise
        return self._reply(call, outcome)

    # ------------------------------------------------------------ following the log

    def notice(self, event: Event) -> None:
        """An event from the feed: a call held here follows its conversation's handler."""
        if event.type not in _FOLLOWED or self._calls is None or self._closing:
            return
        call = self._call_of(event.conversation_id)
        if call is not None:
            self._runner.submit(event.conversation_id, partial(self._follow, event, call))

    async def _follow(self, event: Event, call: Call) -> None:
        if call.ended:
            return
        state = await self._state(event.conversation_id)
        if event.type == "call.started":
            if (agent := agent_of(state.handler)) is not None:
                await self._ring(call, agent, state)
            elif is_automatic(state.handler):
                await self._to_digital_human(call, state, event.actor, "call")
            return
        to = str(event.data["to"]) if event.type == "handler.changed" else NONE
        dh = self._digital_humans.session(call.call_id) if self._digital_humans else None
        if dh is not None and to != DIGITAL_HUMAN:
            dh.step_aside()
        if to == NONE:
            await call.end("conversation_closed")
        elif (agent := agent_of(to)) is not None:
            if call.agent_id != agent:
                # The previous agent talks on until this one answers (make before break).
                await self._ring(call, agent, state)
        else:
            if to == DIGITAL_HUMAN:
                # Its voice is current before the agent leaves: no queue audio between.
                await self._serve_with_digital_human(call, state, event.actor)
            elif to == BOT and self._digital_humans and not self._digital_humans.unavailable():
                # The text bot serves the chat; on a call, the digital human stands in.
                await self._to_digital_human(call, state, event.actor, "call")
            # To a queue or back to an automatic handler: the agent leaves the call, the
            # customer hears the queue audio (or the digital human) meanwhile.
            if call.held:
                call.unhold()
            await call.drop_agent(str(event.data.get("reason") or "handler_changed"))

    async def _to_digital_human(
        self, call: Call, state: ConversationState, actor: str, reason: str
    ) -> None:
        """An automatic handler has a call: the digital human takes it (one logged
        switch), or, when it cannot, the queue does, as if the customer asked for a
        person (the offer's context carries the call)."""
        if self._digital_humans is not None and state.handler in (BOT, DIGITAL_HUMAN):
            session = await self._digital_humans.take(call, state)
            if session is not None:
                if state.handler == DIGITAL_HUMAN:
                    session.serve()
                    return
                try:
                    await self._conversations.execute(
                        call.conversation_id,
                        commands.HandOver("system", DIGITAL_HUMAN, reason),
                        actor="system",
                        key=f"{call.call_id}:digital_human:{state.last_seq}",
                    )
                    return
                except DomainError as error:
                    log.info("call %s: no digital human: %s", call.call_id, error.message)
        try:
            await self._conductor.request_agent(
                call.conversation_id,
                actor,
                f"{call.call_id}:queue:{state.last_seq}",
                f"The customer is calling ({call.media}).",
            )
        except DomainError as error:
            log.info("call %s not queued: %s", call.call_id, error.message)

    async def _serve_with_digital_human(
        self, call: Call, state: ConversationState, actor: str
    ) -> None:
        session = None
        if self._digital_humans is not None:
            session = await self._digital_humans.take(call, state)
        if session is not None:
            session.serve()
            return
        # Handed back to a digital human this node cannot run: a person, rather than
        # a customer left listening to nobody.
        try:
            await self._conductor.request_agent(
                call.conversation_id,
                "system",
                f"{call.call_id}:queue:{state.last_seq}",
                "The digital human cannot take this call.",
            )
        except DomainError as error:
            log.info("call %s not queued: %s", call.call_id, error.message)

    async def _ring(self, call: Call, agent_id: str, state: ConversationState) -> None:
        person = await self._directory.get(state.customer_id)
        data = {
            "call_id": call.call_id,
            "conversation_id": call.conversation_id,
            "customer": {
                "id": state.customer_id,
                "name": person.name if person is not None else state.customer_id,
            },
            "media": call.media,
            "context": dict(state.handoff_context),
        }
        await self._emit("call.incoming", data, agent_room(agent_id), "/agent")

    async def _follow_queue(self) -> None:
        """A queued caller's slate shows their queue position, as their chat does."""
        while True:
            await asyncio.sleep(_QUEUE_POSITION_SECONDS)
            for call in self._calls or ():
                if call.state != "queued":
                    continue
                try:
                    call.set_queue_position(self._router.queue_position(call.conversation_id))
                except Exception:
                    # One call's slate must not stop the others'.
                    log.exception("call %s: the queue position was not shown", call.call_id)

    # --------------------------------------------------------- what the media says

    def _media_event(self, event: CallEvent) -> None:
        self._spawn(self._on_media_event(event))

    async def _on_media_event(self, event: CallEvent) -> None:
        call = self._calls.get(event.call_id) if self._calls is not None else None
        base = {"call_id": event.call_id, "conversation_id": event.conversation_id}
        if event.type == "video_available":
            # The other side should send a new offer with a video section.
            data = {**base, "from": event.party}
            if event.party == "agent":
                await self._emit(
                    "call.video_available",
                    data,
                    conversation_room(event.conversation_id),
                    "/customer",
                )
            elif call is not None and call.agent_id is not None:
                await self._emit("call.video_available", data, agent_room(call.agent_id), "/agent")
            return
        if event.type == "muted":
            # Both sides: the other party's page says so, the party's other tabs follow.
            data = {**base, "party": event.party, "muted": event.reason == "muted"}
            await self._emit(
                "call.muted", data, conversation_room(event.conversation_id), "/customer"
            )
            agents = set(self._agents_on.get(event.call_id, ()))
            if call is not None and call.agent_id is not None:
                agents.add(call.agent_id)
            if agents:
                await self._emit(
                    "call.muted", data, [agent_room(a) for a in sorted(agents)], "/agent"
                )
            return
        if call is not None:
            await self._sync_agents(call)
        left = {
            "transferred": event.reason,  # the previous agent
            "agent_failed": event.agent_id,
            "agent_lost": event.agent_id,
            "agent_dropped": event.agent_id,
        }
        if event.type in left and (agent := left[event.type]) is not None:
            reason = event.type if event.type != "agent_dropped" else event.reason
            await self._emit("call.left", {**base, "reason": reason}, agent_room(agent), "/agent")

    def _ended(self, summary: CallSummary) -> None:
        task = asyncio.ensure_future(self._finish(summary))
        self._endings[summary.call_id] = task
        # Forget only finished endings: one still logging must be awaited at shutdown.
        for call_id in [c for c, t in self._endings.items() if t.done()]:
            if len(self._endings) <= _ENDINGS_REMEMBERED:
                break
            del self._endings[call_id]

    async def _finish(self, summary: CallSummary) -> CommandOutcome | None:
        """Log the recording and the call's end; tell both sides; free the agents."""
        call_id, cid = summary.call_id, summary.conversation_id
        if self._digital_humans is not None:
            await self._digital_humans.release(call_id)
        if (recorder := self._recorders.pop(call_id, None)) is not None:
            try:
                info = await recorder.stop()
                await self._conversations.execute(
                    cid,
                    commands.SaveRecording(
                        "system",
                        call_id,
                        # Relative to the recordings directory: the log travels to
                        # clients, the server's file system layout does not.
                        info.path.name,
                        round(info.duration_seconds, 3),
                        info.size_bytes,
                        info.sha256,
                    ),
                    actor="system",
                    key=f"{call_id}:recording",
                )
            except Exception:
                # The file is on disk but not in the log: say where, for the operator.
                log.exception(
                    "call %s: recording %s (conversation %s) was NOT logged; the file "
                    "stays in the recordings directory",
                    call_id,
                    getattr(recorder, "path", None),
                    cid,
                )
        outcome = None
        if call_id in self._logged:
            self._logged.discard(call_id)
            end = commands.EndCall(
                "system",
                call_id,
                summary.reason,
                summary.duration_seconds,
                summary.talk_seconds,
                summary.held_seconds,
            )
            try:
                outcome = await self._conversations.execute(
                    cid, end, actor="system", key=f"{call_id}:ended"
                )
            except DomainError as error:
                log.warning("call %s: its end was not logged: %s", call_id, error.message)
            # The chat goes back to the text bot (a no-op unless the digital human still
            # serves; refused when a person or the queue does: they keep it).
            with contextlib.suppress(DomainError):
                await self._conversations.execute(
                    cid,
                    commands.HandOver("system", BOT, "call_ended"),
                    actor="system",
                    key=f"{call_id}:bot",
                )
        agents = self._agents_on.pop(call_id, set()) | set(summary.agents)
        if self._closing:
            return outcome  # the router and the sockets are shutting down too
        for agent in sorted(agents):
            await self._router.on_call(agent, cid, False)
        state = await self._conversations.state(cid)
        if state is not None and (serving := agent_of(state.handler)) is not None:
            agents.add(serving)  # rung, never answered
        data = {
            "call_id": call_id,
            "conversation_id": cid,
            "reason": summary.reason,
            "duration_seconds": summary.duration_seconds,
            "talk_seconds": summary.talk_seconds,
            "held_seconds": summary.held_seconds,
        }
        await self._emit("call.ended", data, conversation_room(cid), "/customer")
        if agents:
            await self._emit("call.ended", data, [agent_room(a) for a in sorted(agents)], "/agent")
        return outcome

    # ------------------------------------------------------------------ internals

    def _held(self, call_id: str) -> Call:
        """The call, if this node holds it."""
        call = self._calls.get(call_id) if self._calls is not None else None
        if call is not None:
            return call
        parts = call_id.split("-")
        if len(parts) == 3 and parts[0] == "call" and parts[1] != self._tag:
            raise CallRefused(
                "wrong_node",
                f"call {call_id} is held by another node: send its commands there",
            )
        if not self._settings.enabled:
            raise CallRefused("calls_disabled", "calls are not enabled on this server")
        raise CallRefused("not_found", f"no call {call_id} (it may have ended)")

    def _call_of(self, conversation_id: str) -> Call | None:
        calls = self._calls
        if calls is None:
            return None
        return next((c for c in calls if c.conversation_id == conversation_id), None)

    async def _state(self, conversation_id: str) -> ConversationState:
        state = await self._conversations.state(conversation_id)
        if state is None:
            raise DomainError("not_found", f"no conversation {conversation_id}")
        return state

    def _rule(self, state: ConversationState, command: commands.Command) -> None:
        """Refuse now what the log would refuse, before any media is set up (pure)."""
        decide(state, command, self._clock())

    async def _party(self, principal: Principal, call: Call) -> Party:
        if principal.role == "customer":
            check_can_read(principal, await self._state(call.conversation_id), call.conversation_id)
            return "customer"
        if call.agent_id != principal.id:
            raise DomainError("forbidden", f"you are not on call {call.call_id}")
        return "agent"

    async def _sync_agents(self, call: Call) -> None:
        """Tell the router which agents have a leg on the call (it weighs their load)."""
        now_on: set[str] = set()
        if not call.ended:
            legs = call.stats()["legs"]
            now_on = {leg["participant"] for name, leg in legs.items() if name != "customer"}
        before = self._agents_on.get(call.call_id, set())
        if now_on:
            self._agents_on[call.call_id] = now_on
        else:
            self._agents_on.pop(call.call_id, None)
        if self._closing:
            return
        for agent in sorted(now_on - before):
            await self._router.on_call(agent, call.conversation_id, True)
        for agent in sorted(before - now_on):
            await self._router.on_call(agent, call.conversation_id, False)

    def _reply(self, call: Call, outcome: CommandOutcome | None, **extra: Any) -> Reply:
        reply: Reply = {"conversation_id": call.conversation_id, "call_id": call.call_id}
        if outcome is not None and outcome.events:
            reply["seq"] = outcome.seq
            reply["seqs"] = outcome.seqs
        reply.update(extra)
        return reply

    def _transcribe(self, call: Call) -> None:
        """Live transcripts of `call`, when speech recognition runs on this node: partials
        go to the agents following the conversation as they come, finals into the log.
        The digital human, when it may serve the call, hears the customer through it."""
        stt = self._speech.stt if self._speech is not None else None
        logs = self._speech is not None and self._speech.transcriber is not None
        dh = self._digital_humans
        hears = dh is not None and stt is not None and dh.listen(call)
        if stt is None or not (logs or hears):
            return
        cid, call_id = call.conversation_id, call.call_id

        async def deliver(speaker: str, segment: Segment) -> None:
            if hears and dh is not None:
                dh.heard(call_id, speaker, segment)
            if not logs:
                return
            if not segment.is_final:
                data = {
                    "conversation_id": cid,
                    "call_id": call_id,
                    "speaker": speaker,
                    "text": mask(segment.text),
                    "utterance": segment.utterance,
                }
                await self._emit("transcript.partial", data, conversation_room(cid), "/agent")
                return
            command = commands.AddTranscriptSegment(
                "system",
                call_id,
                speaker,
                segment.text,
                segment.start,
                segment.end,
                segment.utterance,
            )
            try:
                await self._conversations.execute(cid, command, actor="system")
            except DomainError as error:
                log.warning("transcript of %s in %s not logged: %s", speaker, call_id, error)

        started = partial(dh.speech_started, call_id) if hears and dh is not None else None
        CallTranscriber(call, stt, deliver, started).start()

    def _remember(self, key: tuple[str, str], reply: Reply) -> None:
        self._replies[key] = reply
        while len(self._replies) > _REPLIES_REMEMBERED:
            self._replies.popitem(last=False)

    async def _emit(self, event: str, data: dict[str, Any], to: str | list[str], ns: str) -> None:
        try:
            await self._emit_raw(event, data, to, ns)
        except Exception:
            # A lost notification must not undo what the call did.
            log.exception("emit %s to %s%s failed", event, ns, to)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
