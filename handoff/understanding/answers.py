"""Answers for the BANKING77 intents: what the bot says, where it routes, what it offers next.

Loaded once at start-up from `answers.toml` and validated strictly, so a typo in the file
stops the server with a message naming the intent and the field instead of misrouting
customers later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "MAX_PRIORITY",
    "MIN_PRIORITY",
    "SELF_SERVICE_TASKS",
    "SKILLS",
    "IntentAnswer",
    "find_by_title",
    "load_answers",
    "parse_answers",
]

SELF_SERVICE_TASKS: frozenset[str] = frozenset(
    {"freeze_card", "unfreeze_card", "report_lost_card", "transfer_status", "balance", "card_limit"}
)
SKILLS: frozenset[str] = frozenset(
    {"cards", "payments", "transfers", "account", "fraud", "general"}
)
MIN_PRIORITY = 0
MAX_PRIORITY = 9
_MIN_FOLLOW_UPS = 2
_MAX_FOLLOW_UPS = 3
_DEFAULT_FILE = "answers.toml"


@dataclass(frozen=True, slots=True)
class IntentAnswer:
    """The bot's answer to one intent, and how the intent is routed to people."""

    intent: str
    title: str
    answer: str
    follow_ups: tuple[str, ...]
    # A task flow that completes the intent by itself (e.g. "report_lost_card"), if any.
    self_service: str | None
    # A person must handle it, at once: the answer is said while a colleague is brought in.
    sensitive: bool
    skill: str
    priority: int


_FIELDS: frozenset[str] = frozenset(f.name for f in fields(IntentAnswer)) - {"intent"}
_REQUIRED: frozenset[str] = _FIELDS - {"self_service"}


def load_answers(path: Path | None = None) -> Mapping[str, IntentAnswer]:
    """Load and validate an answers file; by default the one next to this module.

    The result is read-only and keeps the file's order.
    """
    path = path if path is not None else Path(__file__).with_name(_DEFAULT_FILE)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the answers file: {exc}") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse_answers(document)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def parse_answers(document: Mapping[str, Any]) -> Mapping[str, IntentAnswer]:
    """Build the answers from an already-parsed TOML document (one table per intent)."""
    if not document:
        raise ValueError("no intents: the file has no [intent] tables")
    answers = {intent: _parse_answer(intent, raw) for intent, raw in document.items()}
    _check_titles(answers)
    return MappingProxyType(answers)


def find_by_title(answers: Mapping[str, IntentAnswer], title: str) -> IntentAnswer | None:
    """The answer whose title this is, ignoring case and spacing (a clicked follow-up)."""
    wanted = _normalize(title)
    for answer in answers.values():
        if _normalize(answer.title) == wanted:
            return answer
    return None


def _parse_answer(intent: str, raw: object) -> IntentAnswer:
    where = f"intent {intent!r}"
    if not intent.strip() or intent != intent.strip():
        raise ValueError(f"{where}: the intent name must be non-empty, without outer spaces")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a table, [{intent}]")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    missing = sorted(_REQUIRED - set(raw))
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")

    follow_ups = _texts(raw["follow_ups"], f"{where} follow_ups")
    if not _MIN_FOLLOW_UPS <= len(follow_ups) <= _MAX_FOLLOW_UPS:
        raise ValueError(
            f"{where} follow_ups: must have {_MIN_FOLLOW_UPS} to {_MAX_FOLLOW_UPS} items,"
            f" not {len(follow_ups)}"
        )
    if len({_normalize(item) for item in follow_ups}) != len(follow_ups):
        raise ValueError(f"{where} follow_ups: lists the same suggestion twice")

    self_service = raw.get("self_service")
    if self_service is not None and self_service not in SELF_SERVICE_TASKS:
        raise ValueError(
            f"{where} self_service: must be one of {_choices(SELF_SERVICE_TASKS)},"
            f" not {self_service!r}"
        )
    sensitive = raw["sensitive"]
    if not isinstance(sensitive, bool):
        raise ValueError(f"{where} sensitive: must be true or false, not {sensitive!r}")
    if sensitive and self_service is not None:
        raise ValueError(
            f"{where} self_service: a sensitive intent goes to a person, not to a task flow"
        )
    skill = raw["skill"]
    if skill not in SKILLS:
        raise ValueError(f"{where} skill: must be one of {_choices(SKILLS)}, not {skill!r}")
    priority = raw["priority"]
    if (
        not isinstance(priority, int)
        or isinstance(priority, bool)
        or not MIN_PRIORITY <= priority <= MAX_PRIORITY
    ):
        raise ValueError(
            f"{where} priority: must be an integer from {MIN_PRIORITY} to {MAX_PRIORITY},"
            f" not {priority!r}"
        )
    return IntentAnswer(
        intent=intent,
        title=_text(raw["title"], f"{where} title"),
        answer=_text(raw["answer"], f"{where} answer"),
        follow_ups=follow_ups,
        self_service=self_service,
        sensitive=sensitive,
        skill=skill,
        priority=priority,
    )


def _check_titles(answers: Mapping[str, IntentAnswer]) -> None:
    # A title is what a customer clicks: it must lead to exactly one intent, and every
    # follow-up must be such a title, so a suggestion always lands on a known answer.
    by_title: dict[str, str] = {}
    for answer in answers.values():
        key = _normalize(answer.title)
        if key in by_title:
            raise ValueError(
                f"intent {answer.intent!r} title: {answer.title!r} is already the title"
                f" of intent {by_title[key]!r}"
            )
        by_title[key] = answer.intent
    for answer in answers.values():
        for follow_up in answer.follow_ups:
            target = by_title.get(_normalize(follow_up))
            if target is None:
                raise ValueError(
                    f"intent {answer.intent!r} follow_ups: {follow_up!r} is not the title"
                    " of any intent"
                )
            if target == answer.intent:
                raise ValueError(f"intent {answer.intent!r} follow_ups: suggests itself")


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: must be a non-empty string")
    return value.strip()


def _texts(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: must be a list of strings")
    return tuple(_text(item, f"{where} item {position}") for position, item in enumerate(value, 1))


def _choices(options: frozenset[str]) -> str:
    return ", ".join(repr(option) for option in sorted(options))


def _normalize(text: str) -> str:
    return " ".join(text.casefold().split())
