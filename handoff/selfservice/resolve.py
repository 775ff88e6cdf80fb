"""Which of the customer's cards or accounts a hint means.

A single candidate needs no question; several are narrowed by what the customer said,
then by what the task can act on (`prefer`: the active card for a freeze, the frozen one
for an unfreeze). What is still ambiguous is asked, listing the candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from handoff.selfservice.corebanking import Account, Card
from handoff.selfservice.phrases import normalize
from handoff.selfservice.slots import CardHint

__all__ = ["Resolution", "resolve_account", "resolve_card"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Resolution(Generic[_T]):
    """`chosen`, or the `options` to ask about. `described`: the customer said something
    about it; `unmatched`: what they said fits none of the candidates."""

    chosen: _T | None
    options: tuple[_T, ...]
    described: bool
    unmatched: bool = False


def resolve_card(
    cards: Sequence[Card], hint: CardHint, prefer: Callable[[Card], bool]
) -> Resolution[Card]:
    return _narrow(cards, [c for c in cards if _fits(c, hint)], not hint.empty, prefer)


def resolve_account(
    accounts: Sequence[Account], name: str | None, text: str
) -> Resolution[Account]:
    """By `name` if given, else by an account's name appearing in `text` ("my savings")."""
    if name is not None:
        wanted = _name_key(name)
        named = [a for a in accounts if _name_key(a.name) == wanted]
        return _narrow(accounts, named, True, _any)
    words = {_name_key(word) for word in normalize(text).split()}
    mentioned = [a for a in accounts if _name_key(a.name) in words]
    return _narrow(accounts, mentioned, bool(mentioned), _any)


def _narrow(
    everything: Sequence[_T], fitting: list[_T], described: bool, prefer: Callable[[_T], bool]
) -> Resolution[_T]:
    pool = fitting if described else list(everything)
    if described and not pool:
        preferred_all = [item for item in everything if prefer(item)]
        return Resolution(None, tuple(preferred_all or everything), True, unmatched=True)
    if len(pool) == 1:
        return Resolution(pool[0], (), described)
    preferred = [item for item in pool if prefer(item)]
    if len(preferred) == 1:
        return Resolution(preferred[0], (), described)
    return Resolution(None, tuple(preferred or pool), described)


def _fits(card: Card, hint: CardHint) -> bool:
    return (
        (hint.last4 is None or card.last4 == hint.last4)
        and (hint.kind is None or card.kind == hint.kind)
        and (hint.network is None or card.network.lower().replace(" ", "") == hint.network)
    )


def _name_key(name: str) -> str:
    # "saving" and "savings", "Current account" and "current" are the same account.
    key = normalize(name).removesuffix(" account").replace(" ", "")
    return key.removesuffix("s")


def _any(_: object) -> bool:
    return True
