"""Which flow serves a message: by the classifier's intent, else by a few keyword phrases.

BANKING77 has intents for lost cards and transfer problems but none for freezing a card,
checking a balance or changing a card limit, so a BANKING77 classifier will confidently
call "freeze my card" something else. The explicit intents below ("freeze_card",
"unfreeze_card", "check_balance", "change_card_limit") are for a classifier trained on
them; the keyword phrases make the flows reachable with one that is not. Keywords are
checked first: they are narrow phrases, each naming the task outright.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from handoff.selfservice.phrases import normalize

__all__ = ["FLOW_NAMES", "INTENT_FLOWS", "flow_for_keywords"]

FLOW_NAMES: frozenset[str] = frozenset(
    {"freeze_card", "unfreeze_card", "report_lost_card", "transfer_status", "balance", "card_limit"}
)

INTENT_FLOWS: Mapping[str, str] = MappingProxyType(
    {
        # BANKING77
        "lost_or_stolen_card": "report_lost_card",
        "card_swallowed": "report_lost_card",
        "pending_transfer": "transfer_status",
        "transfer_not_received_by_recipient": "transfer_status",
        "failed_transfer": "transfer_status",
        "balance_not_updated_after_bank_transfer": "transfer_status",
        # Beyond BANKING77
        "freeze_card": "freeze_card",
        "unfreeze_card": "unfreeze_card",
        "check_balance": "balance",
        "change_card_limit": "card_limit",
        # The flow names themselves, so a caller holding one (e.g. an answer's
        # `self_service` field) can use it as an intent.
        "report_lost_card": "report_lost_card",
        "transfer_status": "transfer_status",
        "balance": "balance",
        "card_limit": "card_limit",
    }
)


@dataclass(frozen=True, slots=True)
class _Keyword:
    flow: str
    pattern: re.Pattern[str]
    # A phrase that makes the match mean something else (another BANKING77 topic).
    unless: re.Pattern[str] | None = None


_CARD = r"(?:my |the |this |that |our )?(?:\w+ )?cards?"
# Ordered: the first match wins, so "I found my lost card, unfreeze it" is an unfreeze
# and "I lost my card, freeze it" a lost card report.
_KEYWORDS: tuple[_Keyword, ...] = (
    _Keyword(
        "unfreeze_card",
        re.compile(rf"\bun ?freeze\b|\b(?:unblock|unlock|reactivate|defrost) {_CARD}\b"),
    ),
    _Keyword(
        "report_lost_card",
        re.compile(
            rf"\b(?:lost|stolen|misplaced) {_CARD}\b"
            rf"|\b(?:lost|stole|misplaced) {_CARD}\b"
            rf"|\bcards? (?:was |has been |got |is )?(?:lost|stolen|missing)\b"
            rf"|\b(?:atm|machine|cash machine) (?:kept|took|swallowed|ate|has) {_CARD}\b"
            rf"|\breport {_CARD} (?:as )?(?:lost|stolen)\b"
        ),
    ),
    _Keyword(
        "freeze_card",
        re.compile(
            rf"\b(?:freeze|block|lock|pause|suspend) {_CARD}\b"
            rf"|\bstop {_CARD}\b|\bcard freeze\b|\bfreeze it\b"
        ),
    ),
    _Keyword(
        "card_limit",
        re.compile(
            r"\b(?:card|daily|spending|payment|atm|withdrawal) limits?\b"
            r"|\b(?:raise|increase|lower|reduce|change|set) (?:my |the )?limits?\b"
        ),
        unless=re.compile(r"\b(?:top ?up|topping up|disposable|virtual)\b"),
    ),
    _Keyword(
        "transfer_status",
        re.compile(
            r"\bwhere is (?:my |the )?(?:transfer|payment|money)\b"
            r"|\b(?:status of|track|check) (?:my |the )?transfer\b"
            r"|\btransfer (?:status|is pending|still pending|hasn't arrived|has not arrived"
            r"|not received|didn't arrive|did not arrive|failed)\b"
            r"|\btr ?\d{3,}\b"
        ),
    ),
    _Keyword(
        "balance",
        re.compile(
            r"^(?:my |account )?balance$"
            r"|\b(?:what's|what is|whats|check|show|see|tell me|know|get) (?:me )?"
            r"(?:my |the )?(?:\w+ )?(?:account )?balance\b"
            r"|\bhow much (?:money )?(?:do i have|is (?:there )?(?:in|on|left)|have i got)\b"
        ),
        unless=re.compile(
            r"\b(?:not|hasn't|has not|didn't|did not|isn't|wasn't|never) "
            r"(?:been )?(?:updated|update|changed|showing|show|reflect)"
        ),
    ),
)


def flow_for_keywords(text: str) -> str | None:
    """The flow a keyword phrase in `text` asks for, if any."""
    flat = normalize(text)
    for keyword in _KEYWORDS:
        if keyword.pattern.search(flat) and not (keyword.unless and keyword.unless.search(flat)):
            return keyword.flow
    return None
