"""The digital human on a call: one per call it serves, speaking with the chat bot's brain.

    customer's words (the call's transcriber) ─> SegmentFeed ─> VoiceBot ─> CallBrain (the bot)
    VoiceOutput ─> OpusVoiceSource / Vp8AvatarSource ─> Call.serve_with(BotMedia)

`CallSignaling` decides *when* (it follows the log: the switch to the digital human
serves, a switch away steps aside); this module is *how*. The digital human's words are
logged as `transcript.segment`s (speaker "digital_human") as it begins to say them; the
customer's are logged by the transcriber. An escalation (asked for a person, a sensitive
topic, misunderstood too often) is logged once its sentence has been said, with the
call's words and the bot's summary as the context the agent is offered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.speech import SpeechRuntime
from handoff.call_brain import CallBrain, call_escalation_context
from handoff.context import handoff_context
from handoff.handlers import Escalate, Handler
from media.call import BotMedia, Call
from media.digital_human.avatar import AvatarLayers, AvatarRenderer
from media.digital_human.config import AvatarConfig, build_avatar
from media.digital_human.encoded import OpusVoiceSource, Vp8AvatarSource
from media.digital_human.voice import Utterance, VoiceOutput
from media.digital_human.voice_bot import VoiceBot, VoiceReply
from media.speech.feed import SegmentFeed
from media.speech.ports import Segment, TextToSpeech
from sessions import commands
from sessions.errors import DomainError
from sessions.handlers import DIGITAL_HUMAN
from sessions.service import ConversationService
from sessions.state import ConversationState

__all__ = ["DigitalHumanSession", "DigitalHumans", "Lines"]

log = logging.getLogger("tandem.digital_human")

_DRAIN_SECONDS = 3.0


class Lines:
    """What the digital human says on its own, short: on a phone every word is time."""

    disclosure = "This call may be recorded."
    greeting = "Hello, I'm your bank's digital assistant. How can I help you today?"
    back = "I'm back. Is there anything else I can help you with?"


class DigitalHumanSession:
    """One call's digital human: its voice and face as the call's bot media, the voice
    bot listening to the customer, and what it says and decides written to the log."""

    def __init__(
        self,
        call: Call,
        *,
        customer_id: str,
        tts: TextToSpeech,
        bot: Handler,
        conversations: ConversationService,
        layers: AvatarLayers | None,
        fps: float,
        clock: Callable[[], datetime],
    ) -> None:
        self.call = call
        self._conversations = conversations
        cid = call.conversation_id
        self.brain = CallBrain(bot, lambda: conversations.history(cid), cid, customer_id, clock)
        self.voice = VoiceOutput(tts)
        video: Vp8AvatarSource | None = None
        if layers is not None:
            renderer = AvatarRenderer.shared(layers, seed=hash(call.call_id) & 0xFFFF)
            video = Vp8AvatarSource(renderer, self.voice, fps=fps)
        self.media = BotMedia(OpusVoiceSource(self.voice), video)
        self.feed = SegmentFeed("customer")
        self.feed.listening = False
        self.bot = VoiceBot(self.feed, self.voice, _Brain(self), on_handoff=self._handoff)
        self._task = asyncio.ensure_future(self.bot.run())
        self._writes: asyncio.Queue[tuple[commands.Command, str | None] | None] = asyncio.Queue()
        self._writer = asyncio.ensure_future(self._write())
        self._began = time.monotonic()
        self._utterances = 0
        self._escalation: Escalate | None = None
        self._escalations = 0
        self._greeted = False
        self.serving = False
        # Monotonic seconds of the last serve(), for measurements.
        self.served_at: float | None = None

    # ------------------------------------------------------------- switching

    def serve(self) -> None:
        """The digital human has the call: the customer hears and sees it, it listens."""
        if self.serving or self.call.ended:
            return
        self.serving = True
        self.served_at = time.monotonic()
        self.voice.interrupt()  # nothing left over from before it stepped aside
        self.call.serve_with(self.media)
        self.feed.listening = True
        if not self._greeted:
            self._greeted = True
            self.say(Lines.disclosure, interruptible=False)
            self.say(Lines.greeting)
        else:
            self.say(Lines.back)

    def step_aside(self) -> None:
        """Someone else has the call (the queue, an agent): silent, deaf, not heard."""
        if not self.serving:
            return
        self.serving = False
        self.feed.listening = False
        self.voice.interrupt()
        self._escalation = None
        if not self.call.ended:
            self.call.serve_with(None)

    def say(self, text: str, *, interruptible: bool = True) -> Utterance:
        self.brain.said(text)
        self._log_words(text)
        return self.bot.say(text, interruptible=interruptible)

    def handover_context(self, reason: str, note: str | None) -> dict[str, Any]:
        """What a person taking the call over from the digital human is offered (a
        supervisor's take-over): the call's words, the topics it answered, the note."""
        context = handoff_context(list(self.brain.turns), reason, note)
        context["transcript"] = [
            {**line, "speaker": _speaker(line["actor"]), "channel": "call"}
            for line in context["transcript"]
        ]
        context["channel"] = "call"
        return context

    # ---------------------------------------------------------- the customer

    def heard(self, segment: Segment) -> None:
        self.feed.deliver(segment)

    def speech_started(self, heard: float) -> None:
        self.feed.speech_started(heard)

    # --------------------------------------------------------------- teardown

    async def close(self) -> None:
        self.serving = False
        await self.feed.aclose()
        self._task.cancel()
        if self.media.video is not None:
            assert isinstance(self.media.video, Vp8AvatarSource)
            self.media.video.close()
        await self.voice.aclose()
        # What it said last is logged, unless the store takes too long.
        self._writes.put_nowait(None)
        _, late = await asyncio.wait([self._writer], timeout=_DRAIN_SECONDS)
        for task in late:
            task.cancel()
        await asyncio.gather(self._task, *late, return_exceptions=True)

    # --------------------------------------------------------------- internal

    async def answer(self, text: str) -> VoiceReply:
        spoken = await self.brain.answer(text)
        for task in spoken.tasks:
            self._write_soon(
                commands.RecordTask(
                    DIGITAL_HUMAN, task.flow, task.action, task.ok, task.slots, task.result
                )
            )
        if not self.serving:
            return VoiceReply("")  # stepped aside while thinking: the answer is stale
        self._escalation = spoken.escalation
        self._log_words(spoken.text)
        return VoiceReply(spoken.text, handoff=spoken.escalation is not None)

    def _handoff(self, reply: VoiceReply) -> None:
        escalation, self._escalation = self._escalation, None
        if escalation is None or not self.serving:
            return
        self._escalations += 1
        context = call_escalation_context(escalation, self.brain.turns)
        command = commands.Escalate(
            DIGITAL_HUMAN, escalation.reason, escalation.queue, context=context
        )
        log.info(
            "call %s: the digital human hands over (%s, queue %s)",
            self.call.call_id,
            escalation.reason,
            escalation.queue,
        )
        self._write_soon(command, key=f"{self.call.call_id}:escalate:{self._escalations}")

    def _log_words(self, text: str) -> None:
        if not text.strip():
            return
        at = round(time.monotonic() - self._began, 3)
        self._write_soon(
            commands.AddTranscriptSegment(
                "system", self.call.call_id, DIGITAL_HUMAN, text, at, at, self._utterances
            )
        )
        self._utterances += 1

    def _write_soon(self, command: commands.Command, key: str | None = None) -> None:
        """In order, off the voice's path: speech never waits for the store."""
        self._writes.put_nowait((command, key))

    async def _write(self) -> None:
        cid = self.call.conversation_id
        while (item := await self._writes.get()) is not None:
            command, key = item
            actor = (
                "system" if isinstance(command, commands.AddTranscriptSegment) else DIGITAL_HUMAN
            )
            try:
                await self._conversations.execute(cid, command, actor=actor, key=key)
            except DomainError as error:
                log.info(
                    "call %s: %s not logged: %s", self.call.call_id, type(command).__name__, error
                )
            except Exception:
                log.exception("call %s: the digital human's log write failed", self.call.call_id)


def _speaker(actor: str) -> str:
    return "customer" if actor.startswith("customer:") else actor


class _Brain:
    """`media.digital_human.voice_bot.Brain` for one session."""

    def __init__(self, session: DigitalHumanSession) -> None:
        self._session = session

    async def answer(self, text: str) -> str | VoiceReply:
        return await self._session.answer(text)


class DigitalHumans:
    """The digital humans of this node's calls, and whether one can serve at all.

    It can when it is switched on and this node runs both speech engines; it hears a
    call only through the call's transcriber (`listen`), so a call started before the
    engines were loaded goes to the queue, as every call does with the digital human off.
    """

    def __init__(
        self,
        *,
        enabled: bool,
        speech: SpeechRuntime | None,
        bot: Handler,
        conversations: ConversationService,
        clock: Callable[[], datetime],
        avatar: AvatarConfig | None = None,
    ) -> None:
        self._enabled = enabled
        self._speech = speech
        self._bot = bot
        self._conversations = conversations
        self._clock = clock
        self._avatar = avatar or AvatarConfig()
        self._layers: asyncio.Future[AvatarLayers | None] | None = None
        self._sessions: dict[str, DigitalHumanSession] = {}
        self._listening: set[str] = set()
        self._told = False

    def start(self) -> None:
        """Prepare the avatar (a few tenths of a second, on a thread)."""
        if self._enabled and self._layers is None:
            self._layers = asyncio.ensure_future(asyncio.to_thread(self._build_avatar))

    def _build_avatar(self) -> AvatarLayers | None:
        try:
            layers, status = build_avatar(self._avatar)
        except Exception:
            log.exception("digital human: no avatar (calls get its voice alone)")
            return None
        log.info("%s", status)
        return layers

    def unavailable(self) -> str | None:
        """Why the digital human cannot take a call now (None: it can)."""
        if not self._enabled:
            return "the digital human is off (calls_first = queue)"
        speech = self._speech
        if speech is None or speech.stt is None or speech.tts is None:
            status = speech.status() if speech is not None else {"speech": "off"}
            return (
                f"the digital human needs speech recognition and a voice ({status}); "
                "install the speech extra (pip install -e '.[speech]') and check "
                "TANDEM_STT_ENGINE / TANDEM_TTS_ENGINE"
            )
        return None

    def listen(self, call: Call) -> bool:
        """Whether the digital human may serve `call`: then its transcriber feeds it."""
        if self.unavailable() is not None:
            return False
        self._listening.add(call.call_id)
        return True

    def session(self, call_id: str) -> DigitalHumanSession | None:
        return self._sessions.get(call_id)

    def serving(self) -> list[dict[str, Any]]:
        """The calls the digital human serves on this node now (for supervisors)."""
        now = time.monotonic()
        return [
            {
                "call_id": s.call.call_id,
                "conversation_id": s.call.conversation_id,
                "media": s.call.media,
                "seconds": round(now - s.served_at, 1) if s.served_at is not None else 0.0,
            }
            for s in self._sessions.values()
            if s.serving
        ]

    async def take(self, call: Call, state: ConversationState) -> DigitalHumanSession | None:
        """The call's digital human (made on first use), or None if it cannot serve."""
        if (session := self._sessions.get(call.call_id)) is not None:
            return session
        reason = self.unavailable()
        if reason is None and call.call_id not in self._listening:
            reason = "the call started before the speech engines were ready"
        if reason is not None:
            level = logging.INFO if self._told or not self._enabled else logging.WARNING
            log.log(level, "call %s goes to the queue: %s", call.call_id, reason)
            self._told = True
            return None
        speech = self._speech
        assert speech is not None and speech.tts is not None
        layers = await asyncio.shield(self._layers) if self._layers is not None else None
        if call.ended:
            return None
        session = DigitalHumanSession(
            call,
            customer_id=state.customer_id,
            tts=speech.tts,
            bot=self._bot,
            conversations=self._conversations,
            layers=layers,
            fps=self._avatar.fps,
            clock=self._clock,
        )
        self._sessions[call.call_id] = session
        return session

    def heard(self, call_id: str, speaker: str, segment: Segment) -> None:
        session = self._sessions.get(call_id)
        if session is not None and speaker == "customer":
            session.heard(segment)

    def speech_started(self, call_id: str, speaker: str, heard: float) -> None:
        session = self._sessions.get(call_id)
        if session is not None and speaker == "customer":
            session.speech_started(heard)

    async def release(self, call_id: str) -> None:
        """The call ended: its digital human stops."""
        self._listening.discard(call_id)
        session = self._sessions.pop(call_id, None)
        if session is not None:
            await session.close()

    async def close(self) -> None:
        for call_id in list(self._sessions):
            await self.release(call_id)
        if self._layers is not None:
            with contextlib.suppress(Exception):
                await self._layers
