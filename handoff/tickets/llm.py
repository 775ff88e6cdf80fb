"""The optional LLM: it may polish the offline ticket's words, never its facts.

The port is one call, `complete_json`; any OpenAI-compatible server implements it (see
`gateway.llm_openai`). `improve` asks it for a better summary and free-text fields,
checks the answer strictly against the ticket schema, and keeps what came from the
bank's own records (amounts, dates, the card, the category an intent gave). Whatever
goes wrong, a slow model, a broken answer, a server down, the agent gets the offline
ticket: an LLM makes tickets better, it is never needed for one.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from handoff.tickets.prompt import system_prompt, transcript_lines, user_prompt
from handoff.tickets.schema import ticket_schema, validate
from handoff.tickets.slots import amount_of
from handoff.tickets.taxonomy import Taxonomy, load_taxonomy
from handoff.tickets.ticket import Amount, Ticket, TicketError
from sessions.events import Event
from sessions.masking import mask

__all__ = ["LLM", "LLMError", "improve"]

log = logging.getLogger("tandem.tickets.llm")

# Past the adapter's own timeout: a port that ignores its deadline still cannot hold the
# agent's ticket back for long.
_GRACE_SECONDS = 0.5
_CARD_OR_ACCOUNT = re.compile(r"^(card|account) ending (\d{4})$")
_NUMBER = re.compile(r"\d[\d,. ]*\d|\d")


class LLMError(Exception):
    """The model could not answer usefully: timeout, transport, HTTP or invalid output."""


class LLM(Protocol):
    # An explicit timeout, not the caller's asyncio.timeout: the adapter turns it into its
    # HTTP client's deadline, and reports it as an LLMError like any other failure.
    async def complete_json(
        self,
        system: str,
        user: str,
        schema: Mapping[str, Any],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> Mapping[str, Any]:
        """One JSON object answering `user` under `system`, shaped by the JSON `schema`.

        Raises `LLMError` when no such object arrives within `timeout` seconds.
        """
        ...


async def improve(
    ticket: Ticket,
    history: Sequence[Event],
    llm: LLM | None,
    *,
    timeout: float,  # noqa: ASYNC109 (the port's deadline, passed on)
    taxonomy: Taxonomy | None = None,
    language: str = "English",
) -> Ticket:
    """`ticket` improved by `llm`, or `ticket` itself when there is none or it fails."""
    if llm is None:
        return ticket
    taxonomy = taxonomy if taxonomy is not None else load_taxonomy()
    schema = ticket_schema(taxonomy)
    try:
        async with asyncio.timeout(timeout + _GRACE_SECONDS):
            answer = await llm.complete_json(
                system_prompt(language),
                user_prompt(ticket, history, taxonomy),
                schema,
                timeout=timeout,
            )
        problems = validate(answer, schema)
        if problems:
            raise LLMError("answer does not match the ticket schema: " + "; ".join(problems[:5]))
        return _merge(ticket, answer, history, taxonomy)
    except (LLMError, TicketError) as exc:
        log.warning("ticket: keeping the offline ticket, the LLM failed: %s", exc)
    except TimeoutError:
        log.warning("ticket: keeping the offline ticket, the LLM took over %.1fs", timeout)
    except Exception:
        # A broken adapter must not cost the agent the ticket; its bug is still logged.
        log.exception("ticket: keeping the offline ticket, the LLM adapter raised")
    return ticket


def _merge(
    offline: Ticket, answer: Mapping[str, Any], history: Sequence[Event], taxonomy: Taxonomy
) -> Ticket:
    category, sub_category = answer["category"], answer["sub_category"]
    if not taxonomy.allows(category, sub_category):
        raise LLMError(f"sub_category {sub_category!r} is not in category {category!r}")
    sources = dict(offline.sources)
    if category != offline.category and offline.category != taxonomy.fallback[0]:
        # The category an intent or agent gave is a fact of the conversation's routing.
        log.info("ticket: the LLM's category %r ignored, keeping %r", category, offline.category)
        category, sub_category = offline.category, offline.sub_category
    _mark(sources, category=(offline.category, category))
    _mark(sources, sub_category=(offline.sub_category, sub_category))

    summary = _text(answer["summary"]) or offline.summary
    request = _text(answer["customer_request"]) or offline.customer_request
    # A task's outcome is a record from the bank's systems: rewording is fine, losing it not.
    resolution = _text(answer["resolution"]) or offline.resolution
    _mark(sources, summary=(offline.summary, summary))
    _mark(sources, customer_request=(offline.customer_request, request))
    _mark(sources, resolution=(offline.resolution, resolution))

    said = "\n".join(transcript_lines(history))
    amounts = offline.amounts or _grounded_amounts(answer["amounts"], said)
    dates = offline.dates or tuple(dict.fromkeys(answer["dates"]))
    card = offline.card_or_account or _grounded_card(answer["card_or_account"], said)
    _mark(sources, amounts=(offline.amounts, amounts), dates=(offline.dates, dates))
    _mark(sources, card_or_account=(offline.card_or_account, card))

    return Ticket(
        category=category,
        sub_category=sub_category,
        summary=summary,
        customer_request=request,
        resolution=resolution,
        amounts=amounts,
        dates=dates,
        card_or_account=card,
        intent=offline.intent,
        filled_by="llm",
        sources=sources,
    )


def _mark(sources: dict[str, str], **changes: tuple[object, object]) -> None:
    for key, (old, new) in changes.items():
        if new != old:
            sources[key] = "llm"


def _text(value: str) -> str:
    # Masked again: the model saw only masks, but it must not be able to write a number in.
    return mask(" ".join(value.split()))


def _grounded_amounts(raw: Sequence[Mapping[str, Any]], said: str) -> tuple[Amount, ...]:
    # An amount the model filled in must be a figure somebody wrote in the conversation.
    stated = set()
    for match in _NUMBER.finditer(said):
        found = amount_of(match.group())
        if found is not None:
            stated.add(Decimal(found.value))
    kept = []
    for item in raw:
        if Decimal(item["value"]) in stated:
            kept.append(Amount(item["value"], item["currency"]))
        else:
            log.info("ticket: the LLM's amount %s is not in the transcript, dropped", item["value"])
    return tuple(dict.fromkeys(kept))


def _grounded_card(raw: str | None, said: str) -> str | None:
    match = _CARD_OR_ACCOUNT.fullmatch(raw.strip()) if raw else None
    if match is None:
        return None
    if re.search(rf"(?<!\d){match.group(2)}(?!\d)", said) is None:
        log.info("ticket: the LLM's card or account is not in the transcript, dropped")
        return None
    return match.group(0)
