"""The chat bot as the digital human's brain: the same answers, spoken on a call.

The bot is stateless: everything it remembers (how often it failed, what it offered, a
task in progress) it reads from the conversation's messages. On a call nothing is a
message: the customer's words are transcript segments and the digital human's are
speech. So the brain keeps the call's turns as the messages the bot would have seen in
a chat, after the conversation's real history, and asks the bot with both. The call's
turns never enter the log as messages (the log has them as `transcript.segment`s):
they exist for the bot's memory, and for the person who takes over.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from handoff.handlers import Escalate, Handler, Say, Task
from sessions.events import Event
from sessions.handlers import DIGITAL_HUMAN

__all__ = ["CallBrain", "SpokenAnswer", "call_escalation_context"]

History = Callable[[], Awaitable[Sequence[Event]]]

# The call's turns get sequence numbers far above the log's, so the bot's per-message
# keys (a bank request is made once per message) never collide with a real message's.
_TURN_SEQ_BASE = 1_000_000_000_000


@dataclass(frozen=True, slots=True)
class SpokenAnswer:
    """What to say to the customer, what was done for them, and whether a person is
    needed now (the escalation to log once the answer has been said)."""

    text: str
    tasks: tuple[Task, ...] = ()
    escalation: Escalate | None = None


@dataclass(slots=True)
class _Turns:
    events: list[Event] = field(default_factory=list)
    numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class CallBrain:
    """One call's brain over the chat bot `bot`.

    `history` reads the conversation's log (it changes during the call: the customer's
    transcript segments, the switch to the digital human); `customer_id` names the
    customer in the turns the bot reads.
    """

    def __init__(
        self,
        bot: Handler,
        history: History,
        conversation_id: str,
        customer_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self._bot = bot
        self._conversation_id = conversation_id
        self._history = history
        self._customer = f"customer:{customer_id}"
        self._clock = clock
        self._turns = _Turns()

    @property
    def turns(self) -> tuple[Event, ...]:
        """The call's conversation as chat messages (customer and digital human)."""
        return tuple(self._turns.events)

    async def answer(self, text: str) -> SpokenAnswer:
        logged = list(await self._history())
        self._add(self._customer, {"text": text, "channel": "call"})
        replies = await self._bot.reply([*logged, *self._turns.events], text)
        spoken: list[str] = []
        tasks: list[Task] = []
        escalation: Escalate | None = None
        for reply in replies:
            if isinstance(reply, Say):
                spoken.append(reply.text)
                data: dict[str, Any] = {
                    **reply.data,
                    "text": reply.text,
                    "kind": reply.kind,
                    "intent": reply.intent,
                    "channel": "call",
                }
                if reply.suggestions:
                    data["suggestions"] = list(reply.suggestions)
                self._add(DIGITAL_HUMAN, data)
            elif isinstance(reply, Task):
                tasks.append(reply)
            else:
                escalation = reply
        return SpokenAnswer(" ".join(spoken), tuple(tasks), escalation)

    def said(self, text: str) -> None:
        """Something the digital human said on its own (a greeting): the bot reads it as
        a greeting, which ends a streak of misunderstandings like in a chat."""
        self._add(DIGITAL_HUMAN, {"text": text, "kind": "greeting", "channel": "call"})

    def _add(self, actor: str, data: dict[str, Any]) -> None:
        seq = _TURN_SEQ_BASE + next(self._turns.numbers)
        self._turns.events.append(
            Event(self._conversation_id, seq, "message.sent", self._clock(), actor, data)
        )


def call_escalation_context(
    escalation: Escalate, turns: Sequence[Event], call: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The handoff context of an escalation from a call: the bot's reason, intent and
    summary, and the call's words (the digital human's and the customer's, in order)."""
    transcript = [
        {
            "actor": event.actor,
            "speaker": "customer" if event.actor.startswith("customer:") else event.actor,
            "text": str(event.data.get("text", "")),
            "channel": "call",
        }
        for event in turns
    ]
    context: dict[str, Any] = {
        "reason": escalation.reason,
        "intent": escalation.intent,
        "summary": escalation.summary,
        "priority": escalation.priority,
        "transcript": transcript,
        "channel": "call",
    }
    if escalation.confidence is not None:
        context["confidence"] = round(escalation.confidence, 3)
    if escalation.slots:
        context["slots"] = dict(escalation.slots)
    if call:
        context["call"] = call
    return context
