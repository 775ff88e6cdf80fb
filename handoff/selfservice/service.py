"""The self-service engine: fills a flow's slots one question at a time, confirms, acts.

Each call handles one customer message and returns one `FlowTurn`; the state between
messages travels in the turn (`FlowTurn.state`), is stored with the bot's message and is
read back from the log (`flow_state_from_history`), so the engine keeps nothing itself.

One message may answer several slots ("raise my credit card limit to 3000"): every slot
it gives is taken, then the first one still missing is asked. Mutations are confirmed
first; read-only flows act as soon as they can. `request_id` (one per customer message)
is passed to every CoreBanking mutation, which makes a retried reaction harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Final

from handoff.bot.summary import quote
from handoff.selfservice.corebanking import CoreBanking, CoreBankingError
from handoff.selfservice.flows import FLOWS, FlowSpec, Stop, account_value, card_value
from handoff.selfservice.handover import customer_notice, escalation
from handoff.selfservice.intents import INTENT_FLOWS, flow_for_keywords
from handoff.selfservice.model import (
    CONFIRM,
    CompletedTask,
    EscalationReason,
    FlowState,
    FlowTurn,
    SlotName,
    Utterance,
)
from handoff.selfservice.phrases import (
    is_cancel,
    is_no,
    is_plain_no,
    is_yes,
    reports_compromise,
)
from handoff.selfservice.resolve import resolve_account, resolve_card
from handoff.selfservice.slots import Hints, read_hints
from handoff.selfservice.wording import account_label, card_label, or_list, transfer_label

__all__ = ["DEFAULT_CONFIDENCE", "DEFAULT_MAX_ATTEMPTS", "SelfService"]

# The classifier's confidence above which its intent can start a flow or end one.
DEFAULT_CONFIDENCE: Final = 0.6
# Unusable answers to one question before a person takes over.
DEFAULT_MAX_ATTEMPTS: Final = 2
_YES_NO: Final = ("Yes", "No")
_TRANSFER_OPTIONS = 4
_NOT_CAUGHT = "Sorry, I didn't catch that. "
_SLOT_WORDS: Mapping[str, str] = MappingProxyType(
    {"card": "card", "account": "account", "transfer_ref": "transfer reference", "amount": "amount"}
)


@dataclass(frozen=True, slots=True)
class _Context:
    """One customer message in one flow."""

    spec: FlowSpec
    customer: str
    utterance: Utterance
    request_id: str
    awaiting: str | None
    attempts: int
    hints: Hints


@dataclass(frozen=True, slots=True)
class _Filled:
    value: Any


@dataclass(frozen=True, slots=True)
class _Ask:
    slot: SlotName
    say: str
    options: tuple[str, ...]
    # The answer was unusable: it counts towards `max_attempts`.
    failed: bool
    # The customer said something about this slot (so the message was not off topic).
    described: bool


class SelfService:
    """Runs the flows in `handoff.selfservice.flows` against a `CoreBanking`."""

    def __init__(
        self,
        bank: CoreBanking,
        *,
        confidence_threshold: float = DEFAULT_CONFIDENCE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:
        if not 0 < confidence_threshold <= 1:
            raise ValueError("confidence_threshold must be in (0, 1]")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self._bank = bank
        self._threshold = confidence_threshold
        self._max_attempts = max_attempts

    # -- which flow ----------------------------------------------------------------------

    def flow_for_intent(self, intent: str) -> str | None:
        """The flow serving a classifier intent (see `intents.INTENT_FLOWS`), if any."""
        return INTENT_FLOWS.get(intent)

    def flow_for_text(self, text: str) -> str | None:
        """The flow a keyword phrase asks for ("freeze my card"), if any."""
        return flow_for_keywords(text)

    def flow_for(self, utterance: Utterance) -> str | None:
        """The flow to start for a message: keywords first, then a confident intent."""
        if flow := self.flow_for_text(utterance.text):
            return flow
        if utterance.intent is not None and utterance.confidence >= self._threshold:
            return self.flow_for_intent(utterance.intent)
        return None

    # -- the engine ----------------------------------------------------------------------

    async def start(
        self, flow: str, customer_id: str, utterance: Utterance, request_id: str
    ) -> FlowTurn:
        """Begin `flow` with the message that asked for it."""
        spec = FLOWS.get(flow)
        if spec is None:
            raise ValueError(f"unknown flow {flow!r}")
        ctx = self._context(spec, customer_id, utterance, request_id, None, 0)
        if reports_compromise(utterance.text):
            return self._compromised(ctx, {})
        return await self._advance(ctx, {})

    async def resume(
        self, state: FlowState, customer_id: str, utterance: Utterance, request_id: str
    ) -> FlowTurn:
        """Continue a flow with the customer's answer to its last question."""
        spec = FLOWS.get(state.flow)
        if spec is None:
            # A flow this version does not know (renamed, removed): let the caller deal.
            return _topic_changed()
        ctx = self._context(
            spec, customer_id, utterance, request_id, state.awaiting, state.attempts
        )
        slots = dict(state.slots)
        text = utterance.text
        if is_cancel(text) or (state.awaiting != CONFIRM and is_plain_no(text)):
            return _cancelled(spec)
        if reports_compromise(text):
            return self._compromised(ctx, slots)
        if state.awaiting == CONFIRM and spec.confirm is not None:
            return await self._confirmation(ctx, slots, spec.confirm)
        return await self._advance(ctx, slots)

    def _context(
        self,
        spec: FlowSpec,
        customer: str,
        utterance: Utterance,
        request_id: str,
        awaiting: str | None,
        attempts: int,
    ) -> _Context:
        hints = read_hints(utterance.slots, utterance.text, awaiting)
        return _Context(spec, customer, utterance, request_id, awaiting, attempts, hints)

    async def _advance(self, ctx: _Context, slots: dict[str, Any]) -> FlowTurn:
        question: _Ask | None = None
        for slot in ctx.spec.slots:
            if slot in slots:
                continue
            filled = await self._fill(ctx, slot, slots, quiet=question is not None)
            if isinstance(filled, FlowTurn):
                return filled
            if isinstance(filled, _Ask):
                question = question or filled
                continue
            if filled is None:
                continue
            slots[slot] = filled.value
            if slot == "card" and (stop := ctx.spec.check(slots)) is not None:
                return self._stopped(ctx, slots, stop)
        if question is None:
            question = self._amount_problem(ctx, slots)
        if question is not None:
            return self._ask(ctx, slots, question)
        if ctx.spec.confirm is None:
            return await self._execute(ctx, slots)
        return FlowTurn(ctx.spec.confirm(slots), _YES_NO, FlowState(ctx.spec.name, slots, CONFIRM))

    async def _fill(
        self, ctx: _Context, slot: SlotName, slots: dict[str, Any], *, quiet: bool
    ) -> _Filled | _Ask | FlowTurn | None:
        """Resolve one slot from this message: its value, the question to ask for it, or
        the end of the flow. `quiet`: an earlier slot is being asked already, so take this
        one only if the message gives it (None if it does not)."""
        try:
            if slot == "card":
                return await self._fill_card(ctx, slots, quiet)
            if slot == "account":
                return await self._fill_account(ctx, slots, quiet)
            if slot == "transfer_ref":
                return await self._fill_transfer(ctx, slots, quiet)
        except CoreBankingError as error:
            return self._bank_failure(ctx, slots, error, done=False)
        return self._fill_amount(ctx, slots, quiet)

    async def _fill_card(
        self, ctx: _Context, slots: dict[str, Any], quiet: bool
    ) -> _Filled | _Ask | FlowTurn | None:
        if quiet and ctx.hints.card.empty:
            return None
        cards = await self._bank.list_cards(ctx.customer)
        found = resolve_card(cards, ctx.hints.card, ctx.spec.prefer)
        if found.chosen is not None:
            return _Filled(card_value(found.chosen))
        if not found.options:
            return self._nothing(ctx, slots, "cards")
        labels = tuple(card_label(card) for card in found.options)
        return self._which(ctx, "card", slots, labels, found.described, found.unmatched)

    async def _fill_account(
        self, ctx: _Context, slots: dict[str, Any], quiet: bool
    ) -> _Filled | _Ask | FlowTurn | None:
        accounts = await self._bank.list_accounts(ctx.customer)
        found = resolve_account(accounts, ctx.hints.account_name, ctx.hints.text)
        if quiet and not found.described:
            return None
        if found.chosen is not None:
            return _Filled(account_value(found.chosen))
        if not found.options:
            return self._nothing(ctx, slots, "accounts")
        labels = tuple(account_label(account) for account in found.options)
        return self._which(ctx, "account", slots, labels, found.described, found.unmatched)

    async def _fill_transfer(
        self, ctx: _Context, slots: dict[str, Any], quiet: bool
    ) -> _Filled | _Ask | FlowTurn | None:
        # A reference cannot be checked without asking for the transfer itself: a wrong
        # one is found out when the flow acts (see `FlowSpec.retry_on`).
        if ctx.hints.transfer_ref is not None:
            return _Filled(ctx.hints.transfer_ref)
        if quiet:
            return None
        transfers = await self._bank.list_transfers(ctx.customer)
        if not transfers:
            return self._nothing(ctx, slots, "transfers")
        if len(transfers) == 1:
            return _Filled(transfers[0].reference)
        labels = tuple(transfer_label(t) for t in transfers[:_TRANSFER_OPTIONS])
        return self._which(ctx, "transfer_ref", slots, labels, False, False)

    def _fill_amount(
        self, ctx: _Context, slots: dict[str, Any], quiet: bool
    ) -> _Filled | _Ask | None:
        amount = ctx.hints.amount
        if amount is not None:
            return _Filled({"value": f"{amount.value:.2f}", "currency": amount.currency})
        if quiet:
            return None
        return self._which(ctx, "amount", slots, (), False, False)

    def _which(
        self,
        ctx: _Context,
        slot: SlotName,
        slots: dict[str, Any],
        labels: tuple[str, ...],
        described: bool,
        unmatched: bool,
    ) -> _Ask:
        """The question for `slot`, listing the candidates when there are some."""
        question = ctx.spec.asks[slot](slots)
        # Transfers are too long to read out in a sentence: the suggestions show them.
        if labels and slot != "transfer_ref":
            question = f"{question.rstrip('?')}: {or_list(list(labels))}?"
        if unmatched:
            question = f"I can't find that {_SLOT_WORDS[slot]} among yours. {question}"
        # No answer at all to the question just asked counts as a failed attempt, like an
        # answer that fits nothing.
        failed = unmatched or (ctx.awaiting == slot and not described)
        return _Ask(slot, question, labels, failed, described)

    def _amount_problem(self, ctx: _Context, slots: dict[str, Any]) -> _Ask | None:
        """A limit is in the card's currency: fill it in if unsaid, re-ask if another."""
        amount, card = slots.get("amount"), slots.get("card")
        if amount is None or card is None:
            return None
        if amount["currency"] in (None, card["currency"]):
            slots["amount"] = {**amount, "currency": card["currency"]}
            return None
        del slots["amount"]
        note = f"The limit of your {card['label']} is set in {card['currency']}. "
        return _Ask("amount", note + ctx.spec.asks["amount"](slots), (), True, True)

    def _ask(self, ctx: _Context, slots: dict[str, Any], question: _Ask) -> FlowTurn:
        spent = ctx.attempts if ctx.awaiting == question.slot else 0
        attempts = spent + (1 if question.failed else 0)
        if question.failed and not question.described and ctx.awaiting == question.slot:
            # Nothing in the message answers the question: maybe it is about something else.
            if self._changes_topic(ctx):
                return _topic_changed()
            question = replace(question, say=_NOT_CAUGHT + question.say)
        if attempts >= self._max_attempts:
            detail = (
                f"was stopped: no usable {_SLOT_WORDS[question.slot]} after {attempts} tries; "
                f"last message: {quote(ctx.utterance.text)}"
            )
            return self._hand_over(ctx, slots, "not_understood", detail)
        state = FlowState(ctx.spec.name, slots, question.slot, attempts)
        return FlowTurn(question.say, question.options, state)

    async def _confirmation(
        self, ctx: _Context, slots: dict[str, Any], confirm: Callable[[Mapping[str, Any]], str]
    ) -> FlowTurn:
        text = ctx.utterance.text
        if is_no(text):
            return FlowTurn(
                "OK, I won't go ahead: nothing has been changed. What else can I help you with?",
                (),
                None,
            )
        if is_yes(text):
            return await self._execute(ctx, slots)
        if self._changes_topic(ctx):
            return _topic_changed()
        attempts = ctx.attempts + 1
        if attempts >= self._max_attempts:
            detail = (
                f"was stopped: no clear yes or no at the confirmation after {attempts} tries; "
                f"last message: {quote(text)}"
            )
            return self._hand_over(ctx, slots, "not_understood", detail)
        say = f"Sorry, I need a yes or a no. {confirm(slots)}"
        return FlowTurn(say, _YES_NO, FlowState(ctx.spec.name, slots, CONFIRM, attempts))

    async def _execute(self, ctx: _Context, slots: dict[str, Any]) -> FlowTurn:
        spec = ctx.spec
        try:
            outcome = await spec.run(self._bank, ctx.customer, slots, ctx.request_id)
        except CoreBankingError as error:
            slot = spec.retry_on.get(error.code)
            if slot is None:
                return self._bank_failure(ctx, slots, error, done=True)
            return await self._retry(ctx, slots, slot, error)
        done = CompletedTask(spec.name, spec.action, dict(slots), dict(outcome.result), ok=True)
        return FlowTurn(outcome.say, (), None, done=done)

    async def _retry(
        self, ctx: _Context, slots: dict[str, Any], slot: SlotName, error: CoreBankingError
    ) -> FlowTurn:
        """The bank refused a value the customer can correct: ask for it again."""
        rest = {name: value for name, value in slots.items() if name != slot}
        options: tuple[str, ...] = ()
        if slot == "transfer_ref":
            note = f"I can't find a transfer with the reference {slots[slot]}. "
            try:
                transfers = await self._bank.list_transfers(ctx.customer)
            except CoreBankingError:
                transfers = ()
            options = tuple(transfer_label(t) for t in transfers[:_TRANSFER_OPTIONS])
        else:
            # The bank's words for a refused amount state the allowed range (see the port).
            note = f"{error.message.rstrip('.')}. "
        say = note + ctx.spec.asks[slot](rest)
        return self._ask(ctx, rest, _Ask(slot, say, options, True, True))

    # -- endings -------------------------------------------------------------------------

    def _changes_topic(self, ctx: _Context) -> bool:
        utterance = ctx.utterance
        wanted = self.flow_for(utterance)
        if wanted is not None:
            return wanted != ctx.spec.name
        # A confident intent no flow serves ("exchange_rate") is another topic too.
        return utterance.intent is not None and utterance.confidence >= self._threshold

    def _stopped(self, ctx: _Context, slots: dict[str, Any], stop: Stop) -> FlowTurn:
        if stop.escalate is None:
            return FlowTurn(stop.say, (), None)
        turn = self._hand_over(ctx, slots, stop.escalate, f"was stopped: {stop.detail}")
        return replace(turn, say=stop.say)

    def _compromised(self, ctx: _Context, slots: dict[str, Any]) -> FlowTurn:
        detail = (
            "was stopped: the customer says someone else used their card: "
            f"{quote(ctx.utterance.text)}"
        )
        return self._hand_over(ctx, slots, "compromised", detail)

    def _nothing(self, ctx: _Context, slots: dict[str, Any], missing: str) -> FlowTurn:
        detail = f"was stopped: CoreBanking lists no {missing} for the customer"
        return self._hand_over(ctx, slots, "nothing_to_act_on", detail, missing=missing)

    def _bank_failure(
        self, ctx: _Context, slots: dict[str, Any], error: CoreBankingError, *, done: bool
    ) -> FlowTurn:
        """`done`: the failure is the flow's own action (recorded), not a lookup."""
        reason: EscalationReason = "not_allowed" if error.code == "not_allowed" else "bank_error"
        detail = f"failed: CoreBanking answered {error.code} ({error.message})"
        task = None
        if done:
            result = {"error": error.code, "message": error.message}
            task = CompletedTask(ctx.spec.name, ctx.spec.action, dict(slots), result, ok=False)
        return replace(self._hand_over(ctx, slots, reason, detail), done=task)

    def _hand_over(
        self,
        ctx: _Context,
        slots: dict[str, Any],
        reason: EscalationReason,
        detail: str,
        *,
        missing: str = "",
    ) -> FlowTurn:
        request = escalation(ctx.spec, reason, detail, slots)
        return FlowTurn(customer_notice(ctx.spec, reason, missing), (), None, escalate=request)


def _cancelled(spec: FlowSpec) -> FlowTurn:
    changed = " Nothing has been changed." if spec.confirm is not None else ""
    return FlowTurn(f"OK, I've stopped there.{changed} What else can I help you with?", (), None)


def _topic_changed() -> FlowTurn:
    return FlowTurn("", (), None, topic_changed=True)
