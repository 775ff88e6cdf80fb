"""Routing by intent: which queue (agents' skill) and priority each intent goes to.

The answers catalogue says where each of the 77 intents goes by default; a bank overrides
any of them, or the default for intents nobody listed, in its own file
(`TANDEM_INTENT_ROUTES_FILE`):

    [default]
    queue = "general"
    priority = 0

    [intents.lost_or_stolen_card]
    queue = "cards"
    priority = 8
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from handoff.understanding.answers import IntentAnswer

__all__ = ["IntentRoutes", "Route", "load_routes"]


@dataclass(frozen=True, slots=True)
class Route:
    queue: str
    priority: int


@dataclass(frozen=True, slots=True)
class IntentRoutes:
    routes: Mapping[str, Route]
    default: Route = Route("general", 0)

    def route(self, intent: str | None) -> Route:
        if intent is None:
            return self.default
        return self.routes.get(intent, self.default)


def load_routes(answers: Mapping[str, IntentAnswer], path: Path | None = None) -> IntentRoutes:
    """The catalogue's routes, overridden by the file at `path` if given."""
    routes = {intent: Route(a.skill, a.priority) for intent, a in answers.items()}
    default = Route("general", 0)
    if path is None:
        return IntentRoutes(MappingProxyType(routes), default)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"{path}: cannot read the intent routes: {error}") from error
    unknown = sorted(set(document) - {"default", "intents"})
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {', '.join(unknown)}")
    if "default" in document:
        default = _route(document["default"], f"{path} [default]")
    overrides = document.get("intents", {})
    if not isinstance(overrides, Mapping):
        raise ValueError(f"{path} [intents]: must be a table of intents")
    for intent, raw in overrides.items():
        routes[intent] = _route(raw, f"{path} [intents.{intent}]")
    return IntentRoutes(MappingProxyType(routes), default)


def _route(raw: Any, where: str) -> Route:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a table with queue and priority")
    unknown = sorted(set(raw) - {"queue", "priority"})
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    queue, priority = raw.get("queue"), raw.get("priority", 0)
    if not isinstance(queue, str) or not queue.strip():
        raise ValueError(f"{where} queue: must be a non-empty string")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 0 <= priority <= 9:
        raise ValueError(f"{where} priority: must be an integer from 0 to 9, not {priority!r}")
    return Route(queue.strip(), priority)
