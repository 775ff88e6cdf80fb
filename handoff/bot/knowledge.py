"""The bot's knowledge base: entries the bot can answer or escalate, and its own phrases.

Loaded once at start-up from TOML and validated strictly, so a typo in the knowledge file
stops the server with a message naming the entry instead of misrouting customers later.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeAlias

__all__ = [
    "Action",
    "BotTexts",
    "KnowledgeBase",
    "KnowledgeEntry",
    "load_knowledge",
    "normalize_title",
    "parse_knowledge",
]

Action: TypeAlias = Literal["answer", "escalate"]
_ACTIONS: frozenset[str] = frozenset({"answer", "escalate"})
_MAX_FOLLOW_UPS = 3


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    """One topic: how customers ask about it, and what the bot does when they do."""

    id: str
    intent: str
    title: str
    questions: tuple[str, ...]
    answer: str
    follow_ups: tuple[str, ...] = ()
    action: Action = "answer"
    # Sensitive topics (fraud, complaints...) always go to a person, and at once.
    sensitive: bool = False
    queue: str = "general"
    priority: int = 0


@dataclass(frozen=True, slots=True)
class BotTexts:
    """What the bot says outside any entry."""

    greeting: str
    returning_greeting: str
    fallback: str
    clarify: str  # contains "{options}"
    escalating_not_understood: str
    popular: tuple[str, ...] = ()  # entry ids suggested with the greetings


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    texts: BotTexts
    entries: tuple[KnowledgeEntry, ...]

    def __post_init__(self) -> None:
        _check_consistency(self)

    def by_id(self, entry_id: str) -> KnowledgeEntry:
        for entry in self.entries:
            if entry.id == entry_id:
                return entry
        raise KeyError(entry_id)

    def by_intent(self, intent: str) -> KnowledgeEntry | None:
        for entry in self.entries:
            if entry.intent == intent:
                return entry
        return None

    def by_title(self, title: str) -> KnowledgeEntry | None:
        """The entry whose title this is, ignoring case and spacing (clicked suggestions)."""
        wanted = normalize_title(title)
        for entry in self.entries:
            if normalize_title(entry.title) == wanted:
                return entry
        return None

    @property
    def popular(self) -> tuple[KnowledgeEntry, ...]:
        return tuple(self.by_id(entry_id) for entry_id in self.texts.popular)


def normalize_title(text: str) -> str:
    return " ".join(text.casefold().split())


def load_knowledge(path: Path | None = None) -> KnowledgeBase:
    """Load and validate a knowledge file; by default the one shipped with the package."""
    if path is None:
        raw = resources.files(__package__).joinpath("knowledge.toml").read_bytes()
        source = "handoff/bot/knowledge.toml"
    else:
        raw = path.read_bytes()
        source = str(path)
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: not valid TOML: {exc}") from exc
    try:
        return parse_knowledge(document)
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from exc


def parse_knowledge(document: Mapping[str, Any]) -> KnowledgeBase:
    """Build a knowledge base from an already-parsed TOML document."""
    bot = document.get("bot")
    if not isinstance(bot, Mapping):
        raise ValueError("missing [bot] table")
    raw_entries = document.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise ValueError("missing [[entries]]: the knowledge base has no entries")
    entries = tuple(_parse_entry(raw, position) for position, raw in enumerate(raw_entries, 1))
    return KnowledgeBase(texts=_parse_texts(bot), entries=entries)


def _parse_texts(raw: Mapping[str, Any]) -> BotTexts:
    where = "[bot]"
    texts = BotTexts(
        greeting=_text(raw, "greeting", where),
        returning_greeting=_text(raw, "returning_greeting", where),
        fallback=_text(raw, "fallback", where),
        clarify=_text(raw, "clarify", where),
        escalating_not_understood=_text(raw, "escalating_not_understood", where),
        popular=_texts(raw, "popular", where, required=False),
    )
    if "{options}" not in texts.clarify:
        raise ValueError(f"{where} clarify: must contain '{{options}}'")
    return texts


def _parse_entry(raw: object, position: int) -> KnowledgeEntry:
    if not isinstance(raw, Mapping):
        raise ValueError(f"entry #{position}: must be a table")
    entry_id = raw.get("id")
    where = (
        f"entry {entry_id!r}" if isinstance(entry_id, str) and entry_id else f"entry #{position}"
    )
    unknown = sorted(set(raw) - {f.name for f in fields(KnowledgeEntry)})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    action = raw.get("action", "answer")
    if action not in _ACTIONS:
        raise ValueError(f"{where} action: must be 'answer' or 'escalate', not {action!r}")
    sensitive = raw.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise ValueError(f"{where} sensitive: must be true or false")
    priority = raw.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ValueError(f"{where} priority: must be an integer")
    entry = KnowledgeEntry(
        id=_text(raw, "id", where),
        intent=_text(raw, "intent", where),
        title=_text(raw, "title", where),
        questions=_texts(raw, "questions", where, required=True),
        answer=_text(raw, "answer", where),
        follow_ups=_texts(raw, "follow_ups", where, required=False),
        action="escalate" if action == "escalate" else "answer",
        sensitive=sensitive,
        queue=_text(raw, "queue", where) if "queue" in raw else "general",
        priority=priority,
    )
    if entry.sensitive and entry.action != "escalate":
        raise ValueError(f"{where}: a sensitive entry must have action = 'escalate'")
    if len(entry.follow_ups) > _MAX_FOLLOW_UPS:
        raise ValueError(f"{where} follow_ups: at most {_MAX_FOLLOW_UPS}")
    return entry


def _check_consistency(knowledge: KnowledgeBase) -> None:
    # Ids name entries in config, intents name them in logs and routing, titles are what a
    # customer clicks: each must lead to exactly one entry.
    for label, key in (
        ("id", lambda e: e.id),
        ("intent", lambda e: e.intent),
        ("title", lambda e: normalize_title(e.title)),
    ):
        seen: set[str] = set()
        for entry in knowledge.entries:
            value = key(entry)
            if value in seen:
                raise ValueError(f"duplicate {label} {value!r} (entry {entry.id!r})")
            seen.add(value)
    for entry in knowledge.entries:
        for follow_up in entry.follow_ups:
            target = knowledge.by_title(follow_up)
            if target is None:
                raise ValueError(
                    f"entry {entry.id!r} follow_ups: {follow_up!r} is not the title of any entry"
                )
            if target is entry:
                raise ValueError(f"entry {entry.id!r} follow_ups: suggests itself")
    ids = {entry.id for entry in knowledge.entries}
    for entry_id in knowledge.texts.popular:
        if entry_id not in ids:
            raise ValueError(f"[bot] popular: no entry with id {entry_id!r}")


def _text(raw: Mapping[str, Any], name: str, where: str) -> str:
    if name not in raw:
        raise ValueError(f"{where}: missing field {name!r}")
    value = raw[name]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where} {name}: must be a non-empty string")
    return value.strip()


def _texts(raw: Mapping[str, Any], name: str, where: str, *, required: bool) -> tuple[str, ...]:
    if name not in raw:
        if required:
            raise ValueError(f"{where}: missing field {name!r}")
        return ()
    value = raw[name]
    if not isinstance(value, list):
        raise ValueError(f"{where} {name}: must be a list of strings")
    if required and not value:
        raise ValueError(f"{where} {name}: must not be empty")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where} {name}: every item must be a non-empty string")
        items.append(item.strip())
    return tuple(items)
