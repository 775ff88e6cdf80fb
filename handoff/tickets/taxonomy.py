"""Ticket categories and where each understood intent files its ticket.

Loaded once at start-up from `categories.toml` and validated strictly, so a typo in the
file stops the server with a message naming the intent instead of filing tickets under a
category no back office knows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["IntentCategory", "Taxonomy", "load_taxonomy", "parse_taxonomy"]

_DEFAULT_FILE = "categories.toml"
_INTENT_FIELDS: frozenset[str] = frozenset({"category", "sub_category", "request"})
# Names end up in a JSON schema enum and in an agent's drop-down: keep them short.
_MAX_NAME = 60


@dataclass(frozen=True, slots=True)
class IntentCategory:
    """Where one intent files its ticket, and the customer's request in plain words."""

    intent: str
    category: str
    sub_category: str
    request: str


@dataclass(frozen=True, slots=True)
class Taxonomy:
    """Categories with their sub-categories (file order), and the intents mapped to them."""

    categories: Mapping[str, tuple[str, ...]]
    intents: Mapping[str, IntentCategory]
    fallback: tuple[str, str]

    def for_intent(self, intent: str | None) -> IntentCategory | None:
        return self.intents.get(intent) if intent else None

    def allows(self, category: str, sub_category: str) -> bool:
        return sub_category in self.categories.get(category, ())

    @property
    def sub_categories(self) -> tuple[str, ...]:
        """Every sub-category name once, in file order (several categories share "Fees")."""
        names = (name for subs in self.categories.values() for name in subs)
        return tuple(dict.fromkeys(names))


def load_taxonomy(path: Path | None = None) -> Taxonomy:
    """Load and validate a categories file; by default the one next to this module."""
    path = path if path is not None else Path(__file__).with_name(_DEFAULT_FILE)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the categories file: {exc}") from exc
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return parse_taxonomy(document)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def parse_taxonomy(document: Mapping[str, Any]) -> Taxonomy:
    """Build a taxonomy from an already-parsed TOML document."""
    unknown = sorted(set(document) - {"categories", "fallback", "intents"})
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}")
    categories = _parse_categories(document.get("categories"))
    fallback = _parse_fallback(document.get("fallback"), categories)
    raw_intents = document.get("intents")
    if not isinstance(raw_intents, Mapping) or not raw_intents:
        raise ValueError("missing [intents] table, or it is empty")
    intents = {
        intent: _parse_intent(intent, raw, categories) for intent, raw in raw_intents.items()
    }
    return Taxonomy(
        categories=MappingProxyType(categories),
        intents=MappingProxyType(intents),
        fallback=fallback,
    )


def _parse_categories(raw: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping) or not raw:
        raise ValueError("missing [categories] table, or it is empty")
    categories: dict[str, tuple[str, ...]] = {}
    for category, subs in raw.items():
        where = f"category {category!r}"
        _name(category, where)
        if not isinstance(subs, list) or not subs:
            raise ValueError(f"{where}: must list at least one sub-category")
        names = tuple(_name(sub, f"{where} sub-category") for sub in subs)
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: lists the same sub-category twice")
        categories[category] = names
    return categories


def _parse_fallback(raw: object, categories: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
    if not isinstance(raw, Mapping) or set(raw) != {"category", "sub_category"}:
        raise ValueError("[fallback] must have exactly `category` and `sub_category`")
    category, sub = raw["category"], raw["sub_category"]
    if sub not in categories.get(category, ()):
        raise ValueError(f"[fallback]: {category!r} / {sub!r} is not a listed category")
    return str(category), str(sub)


def _parse_intent(
    intent: str, raw: object, categories: Mapping[str, tuple[str, ...]]
) -> IntentCategory:
    where = f"intent {intent!r}"
    if not intent.strip() or intent != intent.strip():
        raise ValueError(f"{where}: the intent name must be non-empty, without outer spaces")
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a table")
    if set(raw) != _INTENT_FIELDS:
        raise ValueError(f"{where}: must have exactly {', '.join(sorted(_INTENT_FIELDS))}")
    category, sub = raw["category"], raw["sub_category"]
    if category not in categories:
        raise ValueError(f"{where} category: {category!r} is not in [categories]")
    if sub not in categories[category]:
        raise ValueError(f"{where} sub_category: {sub!r} is not a sub-category of {category!r}")
    request = raw["request"]
    if not isinstance(request, str) or not request.strip():
        raise ValueError(f"{where} request: must be a non-empty string")
    return IntentCategory(intent, category, sub, request.strip())


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{where}: {value!r} must be a non-empty string without outer spaces")
    if len(value) > _MAX_NAME:
        raise ValueError(f"{where}: {value!r} is longer than {_MAX_NAME} characters")
    return value
