"""The ticket desk: the draft an agent confirms, from the log, the language understanding
and (when a bank configures one) an LLM.

What the bot understood of a customer's message is in the log already (its reply's
`understood`, with the seq it answered); messages the bot never saw (an agent was
serving) are understood here, so a ticket is as complete after a long agent chat as
after a bot one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from handoff.tickets.llm import LLM, improve
from handoff.tickets.offline import prefill
from handoff.tickets.taxonomy import Taxonomy, load_taxonomy
from handoff.tickets.ticket import Ticket
from handoff.tickets.understood import UnderstoodMessage, understood_from_json
from sessions.events import Event

__all__ = ["TicketDesk"]

# (text) -> {"intent", "confidence", "slots": [{"name", "text", "value"}]} or None when
# understanding is not available (yet).
Understand = Callable[[str], Awaitable[Mapping[str, Any] | None]]


class TicketDesk:
    def __init__(
        self,
        understand: Understand,
        llm: LLM | None = None,
        *,
        llm_timeout_seconds: float = 8.0,
        taxonomy: Taxonomy | None = None,
    ) -> None:
        self._understand = understand
        self._llm = llm
        self._timeout = llm_timeout_seconds
        self._taxonomy = taxonomy or load_taxonomy()

    @property
    def taxonomy(self) -> Taxonomy:
        return self._taxonomy

    async def draft(self, history: Sequence[Event]) -> Ticket:
        ticket = prefill(history, await self.understood(history), taxonomy=self._taxonomy)
        return await improve(
            ticket, history, self._llm, timeout=self._timeout, taxonomy=self._taxonomy
        )

    async def understood(self, history: Sequence[Event]) -> list[UnderstoodMessage]:
        known: dict[int, UnderstoodMessage] = {}
        for event in history:
            logged = event.data.get("understood") if event.type == "message.sent" else None
            if isinstance(logged, Mapping) and isinstance(seq := logged.get("seq"), int):
                known[seq] = understood_from_json(seq, logged)
        for event in history:
            if (
                event.type == "message.sent"
                and event.actor.startswith("customer:")
                and event.seq not in known
                and isinstance(text := event.data.get("text"), str)
                and (fresh := await self._understand(text)) is not None
            ):
                known[event.seq] = understood_from_json(event.seq, fresh)
        return [known[seq] for seq in sorted(known)]
