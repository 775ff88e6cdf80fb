"""The voice bot: the customer speaks, the brain answers, the digital human says it.

    final segment ──> brain.answer(text) ──> voice.say(disclosure, not interruptible)
                                             voice.say(answer)
    speech starts ──> voice.interrupt()   (barge-in; a disclosure plays on)

Barge-in listens for the *start* of the customer's speech (`on_speech_start` of the
transcribing stream: a window or two of audio after they begin), not for their first
words, which come half a second later. Anything loud enough for the speech detector
interrupts, a cough included: the price of stopping within a fraction of a second.

When the customer goes on speaking while the brain thinks, that answer is dropped and
the brain is asked again with everything said since the last answer, so an answer
always fits the whole question. The brain may therefore see a question twice, extended.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from media.digital_human.voice import Utterance, VoiceOutput
from media.speech.ports import Segment, SpeechOnsets, SttStream

__all__ = [
    "BargeIn",
    "Brain",
    "SpeechOnsets",
    "TranscriptLine",
    "VoiceBot",
    "VoiceReply",
]

logger = logging.getLogger(__name__)

FALLBACK = "Sorry, I could not answer that just now. Could you say it again?"


@dataclass(frozen=True, slots=True)
class VoiceReply:
    """An answer: `disclosure` is said first and cannot be interrupted (a compliance
    notice); `handoff` asks for a person once the answer has been said."""

    text: str
    disclosure: str = ""
    handoff: bool = False


class Brain(Protocol):
    """What the chat bot is to the voice bot (the lead's adapter; framework-free)."""

    async def answer(self, text: str) -> str | VoiceReply: ...


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """`at`: wall-clock seconds (the bot: when it was asked to speak; the customer: when
    the final transcript came). `interrupted`: the bot was cut off (by barge-in)."""

    speaker: Literal["customer", "bot"]
    text: str
    at: float
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class BargeIn:
    """`at`: monotonic seconds when the voice stopped; `detected_after`: seconds of the
    customer's speech before it was noticed (the rest of the delay is under 20 ms:
    the voice's next chunk is silence)."""

    at: float
    detected_after: float
    stopped: tuple[str, ...]


class VoiceBot:
    """One call's voice bot; `await run()` until the stream ends (or cancel it)."""

    def __init__(
        self,
        stream: SttStream,
        voice: VoiceOutput,
        brain: Brain,
        *,
        fallback: str = FALLBACK,
        on_handoff: Callable[[VoiceReply], None] | None = None,
    ) -> None:
        self._stream = stream
        self._voice = voice
        self._brain = brain
        self._fallback = fallback
        self._on_handoff = on_handoff
        self._pending: list[str] = []
        self._arrived = asyncio.Event()
        self._onsets = isinstance(stream, SpeechOnsets)
        self._barged_utterance = 0
        self.transcript: list[TranscriptLine] = []
        self.barge_ins: list[BargeIn] = []
        # Answers dropped because the customer said more while the brain thought.
        self.superseded = 0

    def say(self, text: str, *, interruptible: bool = True) -> Utterance:
        """Say something outside a turn (a greeting, a disclosure), in the transcript."""
        utterance = self._voice.say(text, interruptible=interruptible)
        index = len(self.transcript)
        line = TranscriptLine("bot", text, time.time())
        self.transcript.append(line)

        def ended(done: Utterance) -> None:
            if done.outcome == "interrupted":
                self.transcript[index] = dataclasses.replace(line, interrupted=True)

        utterance.add_done_callback(ended)
        return utterance

    async def run(self) -> None:
        if isinstance(self._stream, SpeechOnsets):
            self._stream.on_speech_start(self._barge_in)
        answering = asyncio.get_running_loop().create_task(self._answer())
        try:
            async for segment in self._stream:
                self._heard(segment)
        finally:
            answering.cancel()
            await asyncio.gather(answering, return_exceptions=True)

    def _heard(self, segment: Segment) -> None:
        if segment.is_final:
            self.transcript.append(TranscriptLine("customer", segment.text, time.time()))
            self._pending.append(segment.text)
            self._arrived.set()
        elif not self._onsets and segment.utterance != self._barged_utterance:
            # A stream without speech-start news: its first partial is the next best.
            self._barged_utterance = segment.utterance
            self._barge_in(segment.end - segment.start)

    def _barge_in(self, heard: float) -> None:
        stopped = self._voice.interrupt()
        if stopped:
            self.barge_ins.append(BargeIn(time.monotonic(), heard, tuple(u.text for u in stopped)))

    async def _answer(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if not self._pending:
                continue
            asked = len(self._pending)
            try:
                reply = await self._brain.answer(" ".join(self._pending))
            except Exception:
                logger.exception("the voice bot's brain failed")
                reply = self._fallback
            if len(self._pending) != asked:
                self.superseded += 1
                self._arrived.set()
                continue
            self._pending.clear()
            self._speak(reply if isinstance(reply, VoiceReply) else VoiceReply(reply))

    def _speak(self, reply: VoiceReply) -> None:
        last: Utterance | None = None
        if reply.disclosure.strip():
            last = self.say(reply.disclosure, interruptible=False)
        if reply.text.strip():
            last = self.say(reply.text)
        on_handoff = self._on_handoff
        if reply.handoff and on_handoff is not None:
            if last is None:
                on_handoff(reply)
            else:
                last.add_done_callback(lambda _: on_handoff(reply))
