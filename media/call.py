"""The media of one conversation's call: its legs, who hears what, and its teardown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias

from media.assets import HOLD_LINES, CallAssets, waiting_lines
from media.hub import TrackHub
from media.ice import IceSettings
from media.leg import Kind, Leg, NegotiationError, Party, Source
from media.switchable import FrameSource

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "BotMedia",
    "Call",
    "CallEnded",
    "CallError",
    "CallEvent",
    "CallObserver",
    "CallState",
    "CallSummary",
    "EventType",
    "MediaMode",
    "NegotiationError",
]

logger = logging.getLogger(__name__)

MediaMode: TypeAlias = Literal["audio", "video"]
# "bot": no agent, and an automatic handler (the digital human) speaks to the customer.
CallState: TypeAlias = Literal["new", "bot", "queued", "talking", "held", "ended"]
EventType: TypeAlias = Literal[
    "agent_connected",  # the first agent's media is flowing: talk time starts
    "transferred",  # the new agent's media is flowing and the previous agent's leg closed
    "agent_failed",  # an agent's leg never got its media flowing (the call goes on without)
    "agent_lost",  # the serving agent's connection failed or closed: customer is queued
    "agent_dropped",  # drop_agent() took the agent off: customer is queued
    "video_available",  # `party` sends video the other party cannot receive before it
    # renegotiates with a video section
    "muted",  # `party` was muted (reason "muted") or unmuted ("unmuted"), also when a new
    # agent takes the seat unmuted
]

# Time between an agent's answer and its first audio at the server; past it, the agent's
# leg is given up and the call goes on as it was.
DEFAULT_CONNECT_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class BotMedia:
    """What the customer hears and sees while a bot serves the call instead of an agent:
    encoded sources (the digital human's voice and avatar), switched in like any other."""

    audio: FrameSource
    video: FrameSource | None = None


class CallError(Exception):
    """The call cannot do that now (wrong state, no such party)."""


class CallEnded(CallError):
    """The call has ended (or is ending): no more signaling on it."""


@dataclass(frozen=True, slots=True)
class CallEvent:
    """Something the gateway should log: the call changed without being asked to."""

    call_id: str
    conversation_id: str
    type: EventType
    agent_id: str | None = None
    party: Party | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """How a call went, in seconds of each state; given once, when it ends."""

    call_id: str
    conversation_id: str
    reason: str
    media: MediaMode
    duration_seconds: float
    talk_seconds: float
    held_seconds: float
    queued_seconds: float
    agents: tuple[str, ...]
    transfers: int
    bot_seconds: float = 0.0


class CallObserver(Protocol):
    """Something that follows a call's media (a recorder), told when it changes."""

    def media_changed(self) -> None:
        """Who hears what changed: re-read `Call.heard()`. Must not block."""

    async def call_ending(self) -> None:
        """The call is ending; runs before the legs close (finish what is in flight)."""


class Call:
    """One conversation's call: a customer leg, an agent leg, and the wiring between them.

    Every leg is a `PolicedPeerConnection` to the server; media between legs is forwarded
    encoded (hub -> forwarder -> the other leg's switchable track), so nothing decodes
    unless a tap subscribes. Each leg's outbound tracks are created once and re-sourced
    by `_settle()` from the call's state (customer, serving agent, incoming agent, hold,
    mute) after every change, so hold, mute and transfer never renegotiate.

    A new agent leg (first agent or transfer) is made before the old one is broken: the
    answer is returned at once, and the switch happens when the new agent's audio reaches
    the server; only then does the previous agent's leg close.

    The call owns the tasks it starts and ends them in `end()`, which closes every peer
    connection and is idempotent. `on_ended` gets the summary however the call ended:
    `end()`, or the customer's connection failing or closing.
    """

    def __init__(
        self,
        call_id: str,
        conversation_id: str,
        *,
        media: MediaMode = "audio",
        ice: IceSettings,
        assets: CallAssets,
        on_ended: Callable[[CallSummary], None] | None = None,
        on_event: Callable[[CallEvent], None] | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.call_id = call_id
        self.conversation_id = conversation_id
        self._media: MediaMode = media
        self._ice = ice
        self._assets = assets
        self._on_ended = on_ended
        self._on_event = on_event
        self._connect_timeout = connect_timeout
        self._clock = clock
        # Per listener: each call has its own read position in the shared packets.
        self._hold = assets.hold_loop()
        self._queue = assets.queue_loop()
        self._customer: Leg | None = None
        self._agent: Leg | None = None
        self._incoming: Leg | None = None
        # Legs off the call whose connection is still closing; the teardown waits for them.
        self._retiring: set[Leg] = set()
        self._held = False
        self._bot: BotMedia | None = None
        self._position: int | None = None
        self._muted: dict[Party, bool] = {"customer": False, "agent": False}
        self._observers: list[CallObserver] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._signaling = asyncio.Lock()
        self._ending: asyncio.Future[CallSummary] | None = None
        self._summary: CallSummary | None = None
        self._created = clock()
        self._state: CallState = "new"
        self._state_since = self._created
        self._seconds: dict[CallState, float] = {
            "new": 0.0,
            "bot": 0.0,
            "queued": 0.0,
            "talking": 0.0,
            "held": 0.0,
            "ended": 0.0,
        }
        self._agents: list[str] = []
        self._transfers = 0

    def __repr__(self) -> str:
        return f"<Call {self.call_id} {self._state}>"

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> CallState:
        return self._state

    @property
    def media(self) -> MediaMode:
        """The call's media: video once any leg negotiated it (or if opened as video)."""
        return self._media

    @property
    def ended(self) -> bool:
        return self._ending is not None

    @property
    def held(self) -> bool:
        return self._held

    @property
    def agent_id(self) -> str | None:
        """The agent the customer is talking to (not one still connecting)."""
        return self._agent.participant_id if self._agent is not None else None

    @property
    def summary(self) -> CallSummary | None:
        return self._summary

    def muted(self, party: Party) -> bool:
        return self._muted[party]

    @property
    def bot(self) -> BotMedia | None:
        """The bot's media the customer gets while no agent serves, if a bot serves."""
        return self._bot

    @property
    def queue_position(self) -> int | None:
        return self._position

    def heard(self, party: Party, kind: Kind) -> TrackHub | None:
        """The inbound track of `party` that currently reaches the other side, if any.

        None while the call is held (neither side hears the other), while `party` is
        muted (audio), or when `party` has no such track. A recorder follows this.
        """
        if self._ending is not None or self._held:
            return None
        if kind == "audio" and self._muted[party]:
            return None
        leg = self._customer if party == "customer" else self._agent
        if leg is None or leg.closed:
            return None
        hub = leg.hubs.get(kind)
        return hub if hub is not None and not hub.closed else None

    def add_observer(self, observer: CallObserver) -> None:
        self._check_open()
        self._observers.append(observer)

    def remove_observer(self, observer: CallObserver) -> None:
        with contextlib.suppress(ValueError):
            self._observers.remove(observer)

    # -------------------------------------------------------------- signaling

    async def connect_customer(self, offer_sdp: str) -> str:
        """Answer the customer's offer; they hear the queue audio and see the slate."""
        async with self._signaling:
            self._check_open()
            if self._customer is not None:
                raise CallError("the customer is already connected; renegotiate instead")
            leg = self._new_leg("customer", "customer")
            self._customer = leg
            try:
                answer = await leg.negotiate(offer_sdp)
            except BaseException:
                self._customer = None
                await leg.close()
                raise
            self._settle()
            return answer

    async def connect_agent(self, agent_id: str, offer_sdp: str) -> str:
        """Answer the agent's offer; the customer hears them once their audio arrives."""
        return await self._seat_agent(agent_id, offer_sdp, replace=False)

    async def transfer_to(self, agent_id: str, offer_sdp: str) -> str:
        """Answer agent B's offer; B replaces the serving agent once B's audio arrives.

        The customer's peer connection is not renegotiated: its switchable tracks change
        source. The previous agent's leg closes after the switch. Should B's media not
        flow within the connect timeout, B's leg closes, an `agent_failed` event is
        given, and the customer stays with the previous agent.
        """
        return await self._seat_agent(agent_id, offer_sdp, replace=True)

    async def renegotiate(self, party: Party, offer_sdp: str) -> str:
        """Answer a new offer from a connected party (e.g. adding video)."""
        async with self._signaling:
            self._check_open()
            leg = self._leg_of(party)
            answer = await leg.negotiate(offer_sdp)
            self._check_open()
            self._settle()
            return answer

    async def drop_agent(self, reason: str = "dropped") -> None:
        """Take the agent (and any incoming one) off: the customer is queued again."""
        legs = [leg for leg in (self._agent, self._incoming) if leg is not None]
        if not legs:
            return
        self._agent = self._incoming = None
        self._set_muted("agent", False)
        self._settle()
        for leg in legs:
            self._emit("agent_dropped", agent_id=leg.participant_id, reason=reason)
        await asyncio.gather(*(self._retire(leg) for leg in legs))

    def serve_with(self, bot: BotMedia | None) -> None:
        """While no agent is on the call, the customer gets `bot`'s media (None: the queue
        audio and the slate again). An agent who answers takes over from the bot at once
        when their audio arrives, as in a transfer, and `drop_agent()` gives the customer
        back to the bot: neither renegotiates. The caller stops the bot's sources."""
        self._check_open()
        self._bot = bot
        self._settle()

    # ------------------------------------------------------------ hold, mute

    def hold(self) -> None:
        """The customer hears hold audio and sees the slate; the agent hears silence."""
        self._check_open()
        self._held = True
        self._settle()

    def unhold(self) -> None:
        self._check_open()
        self._held = False
        self._settle()

    def set_queue_position(self, position: int | None) -> None:
        """Where the customer waits in the queue (None: unknown); their slate says it."""
        if position != self._position and self._ending is None:
            self._position = position
            self._settle()

    def mute(self, party: Party, muted: bool = True) -> None:
        """While muted, `party`'s audio reaches nobody: the others hear silence."""
        self._check_open()
        if party not in self._muted:
            raise CallError(f"no such party {party!r}")
        self._set_muted(party, muted)
        self._settle()

    # --------------------------------------------------------------- teardown

    async def end(self, reason: str = "ended") -> CallSummary:
        """Close every leg and task; the same summary however often it is called."""
        return await asyncio.shield(self._begin_end(reason))

    def stats(self) -> dict[str, Any]:
        legs: dict[str, Any] = {}
        for name, leg in (
            ("customer", self._customer),
            ("agent", self._agent),
            ("agent_incoming", self._incoming),
        ):
            if leg is not None:
                legs[name] = leg.stats()
        return {
            "call_id": self.call_id,
            "conversation_id": self.conversation_id,
            "state": self._state,
            "media": self._media,
            "held": self._held,
            "muted": dict(self._muted),
            "agent_id": self.agent_id,
            "tasks": len(self._tasks),
            "legs": legs,
        }

    # --------------------------------------------------------------- internal

    async def _seat_agent(self, agent_id: str, offer_sdp: str, *, replace: bool) -> str:
        async with self._signaling:
            self._check_open()
            if self._customer is None:
                raise CallError("connect the customer first")
            if self._incoming is not None:
                raise CallError("another agent is still connecting")
            if self._agent is not None and not replace:
                raise CallError("an agent is already on the call; transfer_to() instead")
            leg = self._new_leg("agent", agent_id)
            self._incoming = leg
            try:
                answer = await leg.negotiate(offer_sdp)
            except BaseException:
                self._incoming = None
                await leg.close()
                raise
            self._settle()
            self._spawn(self._take_seat(leg))
            return answer

    async def _take_seat(self, leg: Leg) -> None:
        """Make before break: switch to `leg` when its media flows, then close the old."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                flowing = await leg.wait_flowing()
        except TimeoutError:
            flowing = False
        if self._incoming is not leg:
            # Dropped (or the call ended) meanwhile; whoever did that closes it.
            return
        self._incoming = None
        if not flowing:
            self._settle()
            self._emit("agent_failed", agent_id=leg.participant_id, reason=leg.lost or "timeout")
            await self._retire(leg)
            return
        previous = self._agent
        self._agent = leg
        self._position = None
        self._set_muted("agent", False)
        self._agents.append(leg.participant_id)
        if previous is not None:
            self._transfers += 1
        self._settle()
        if self._customer is not None:
            self._announce_video(self._customer)
            self._announce_video(leg)
        if previous is None:
            self._emit("agent_connected", agent_id=leg.participant_id)
        else:
            await self._retire(previous)
            self._emit("transferred", agent_id=leg.participant_id, reason=previous.participant_id)

    async def _retire(self, leg: Leg) -> None:
        self._retiring.add(leg)
        await leg.close()
        # Not reached if this task is cancelled: the leg stays for the teardown to await.
        self._retiring.discard(leg)

    def _new_leg(self, party: Party, participant_id: str) -> Leg:
        return Leg(
            party,
            participant_id,
            ice=self._ice,
            assets=self._assets,
            on_media=self._leg_media,
            on_lost=self._leg_lost,
        )

    def _leg_of(self, party: Party) -> Leg:
        leg = self._customer if party == "customer" else self._agent
        if leg is None:
            raise CallError(f"no {party} on this call")
        return leg

    def _begin_end(self, reason: str) -> asyncio.Future[CallSummary]:
        if self._ending is None:
            # Not one of the call's own tasks: the teardown cancels those, and a caller
            # of end() that is cancelled must not leave the call half torn down.
            self._ending = asyncio.ensure_future(self._teardown(reason))
        return self._ending

    def _leg_media(self, leg: Leg, new_kind: Kind | None) -> None:
        if "video" in leg.hubs or "video" in leg.routes:
            self._media = "video"
        if self._ending is None:
            self._settle()
            if new_kind == "video":
                self._announce_video(leg)

    def _announce_video(self, leg: Leg) -> None:
        """Tell the gateway when `leg` sends video its counterpart cannot receive yet."""
        other = self._agent if leg is self._customer else self._customer
        if "video" in leg.hubs and other is not None and "video" not in other.routes:
            self._emit("video_available", party=leg.party)

    def _leg_lost(self, leg: Leg, state: str) -> None:
        if self._ending is not None:
            return
        if leg is self._customer:
            self._begin_end(f"customer_{state}")
        elif leg is self._agent:
            self._agent = None
            self._settle()
            self._emit("agent_lost", agent_id=leg.participant_id, reason=state)
            self._spawn(self._retire(leg))
        # An incoming agent's loss wakes `_take_seat`, which reports it.

    def _settle(self) -> None:
        """Re-source every outbound track from the call's state, then tell observers."""
        self._account()
        if self._ending is not None:
            return
        customer, agent = self._customer, self._agent
        if customer is not None:
            customer.route("audio", self._customer_audio(agent))
            customer.route("video", self._customer_video(agent))
            customer.show_on_slate(self._customer_slate(agent))
        # The incoming agent hears the customer at once: a transfer can be warm.
        for leg in (agent, self._incoming):
            if leg is not None:
                leg.route("audio", self.heard("customer", "audio"))
                leg.route("video", self.heard("customer", "video"))
        for observer in list(self._observers):
            try:
                observer.media_changed()
            except Exception:
                logger.exception("%r: observer %r failed", self, observer)

    def _customer_video(self, agent: Leg | None) -> Source:
        if agent is not None:
            return self.heard("agent", "video")
        if self._bot is not None and not self._held:
            return self._bot.video
        return None

    def _customer_slate(self, agent: Leg | None) -> tuple[str, ...]:
        if self._held:
            return HOLD_LINES
        if agent is None and self._bot is not None:
            return ()  # shown only should the bot's picture end
        if agent is None:
            return waiting_lines(self._position)
        # Talking to an agent who sends no video: the plain slate.
        return ()

    def _customer_audio(self, agent: Leg | None) -> Source:
        if self._held:
            return self._hold
        if agent is None:
            return self._bot.audio if self._bot is not None else self._queue
        return self.heard("agent", "audio")

    def _account(self) -> None:
        """Close the time spent in the state so far, and enter the current one."""
        now = self._clock()
        self._seconds[self._state] += now - self._state_since
        self._state_since = now
        if self._ending is not None:
            self._state = "ended"
        elif self._customer is None:
            self._state = "new"
        elif self._held:
            self._state = "held"
        elif self._agent is None:
            self._state = "queued" if self._bot is None else "bot"
        else:
            self._state = "talking"

    async def _teardown(self, reason: str) -> CallSummary:
        self._account()
        self._state = "ended"
        for observer in list(self._observers):
            try:
                await observer.call_ending()
            except Exception:
                logger.exception("%r: observer %r failed while ending", self, observer)
        self._observers.clear()
        current = asyncio.current_task()
        owned = [task for task in self._tasks if task is not current]
        for task in owned:
            task.cancel()
        await asyncio.gather(*owned, return_exceptions=True)
        legs = [leg for leg in (self._customer, self._agent, self._incoming) if leg is not None]
        legs += self._retiring
        self._customer = self._agent = self._incoming = None
        self._bot = None
        results = await asyncio.gather(*(leg.close() for leg in legs), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                logger.warning("%r: closing a leg failed: %r", self, result)
        summary = CallSummary(
            call_id=self.call_id,
            conversation_id=self.conversation_id,
            reason=reason,
            media=self._media,
            duration_seconds=round(self._state_since - self._created, 3),
            talk_seconds=round(self._seconds["talking"], 3),
            held_seconds=round(self._seconds["held"], 3),
            queued_seconds=round(self._seconds["queued"], 3),
            agents=tuple(self._agents),
            transfers=self._transfers,
            bot_seconds=round(self._seconds["bot"], 3),
        )
        self._summary = summary
        if self._on_ended is not None:
            try:
                self._on_ended(summary)
            except Exception:
                logger.exception("%r: on_ended failed", self)
        return summary

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("%r: a call task failed", self, exc_info=task.exception())

    def _emit(
        self,
        type: EventType,
        *,
        agent_id: str | None = None,
        party: Party | None = None,
        reason: str | None = None,
    ) -> None:
        if self._on_event is None:
            return
        event = CallEvent(self.call_id, self.conversation_id, type, agent_id, party, reason)
        try:
            self._on_event(event)
        except Exception:
            logger.exception("%r: on_event failed", self)

    def _set_muted(self, party: Party, muted: bool) -> None:
        if self._muted[party] != muted:
            self._muted[party] = muted
            self._emit("muted", party=party, reason="muted" if muted else "unmuted")

    def _check_open(self) -> None:
        if self._ending is not None:
            raise CallEnded(f"call {self.call_id} has ended")
