"""The ticket's JSON schema, and a small validator for the subset of JSON Schema it uses.

The same schema is sent to the LLM (as its structured-output format) and checked on what
comes back, so a model that ignores the format is caught here rather than in the ticket.
The validator knows only the keywords used below; it needs no third-party package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from handoff.tickets.taxonomy import Taxonomy

__all__ = [
    "AMOUNT_PATTERN",
    "CURRENCY_PATTERN",
    "DATE_PATTERN",
    "LLM_FIELDS",
    "MAX_AMOUNTS",
    "MAX_CARD_OR_ACCOUNT",
    "MAX_CUSTOMER_REQUEST",
    "MAX_DATES",
    "MAX_NAME",
    "MAX_RESOLUTION",
    "MAX_SUMMARY",
    "ticket_schema",
    "validate",
]

MAX_NAME = 60
MAX_SUMMARY = 600
MAX_CUSTOMER_REQUEST = 300
MAX_RESOLUTION = 600
MAX_CARD_OR_ACCOUNT = 40
MAX_INTENT = 80
MAX_SOURCE = 20
MAX_AMOUNTS = 10
MAX_DATES = 10
# Non-negative, at most 4 decimals: what a core banking system takes without rounding.
AMOUNT_PATTERN = r"^[0-9]{1,15}([.][0-9]{1,4})?$"
CURRENCY_PATTERN = r"^[A-Z]{3}$"
# A day, or an ISO 8601 interval of two days ("2024-05-01/2024-05-07").
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(/[0-9]{4}-[0-9]{2}-[0-9]{2})?$"

# What the LLM returns: everything an agent reads, nothing about where it came from.
LLM_FIELDS: tuple[str, ...] = (
    "category",
    "sub_category",
    "summary",
    "customer_request",
    "resolution",
    "amounts",
    "dates",
    "card_or_account",
)
_REQUIRED_ALWAYS = ("category", "sub_category", "summary", "customer_request")
_JSON_TYPES: Mapping[str, tuple[type, ...]] = {
    "object": (Mapping,),
    "array": (list, tuple),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def ticket_schema(taxonomy: Taxonomy | None = None, *, llm: bool = True) -> dict[str, Any]:
    """The ticket's JSON schema.

    `llm=True`: what an LLM must return, in the strict structured-output form (every
    property required, no others). `llm=False`: a whole ticket as the UI submits it, with
    its provenance; only the core fields are required. With a `taxonomy` the category and
    sub-category are enums (the pair itself is checked by `Ticket`).
    """
    category: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
    sub_category: dict[str, Any] = dict(category)
    if taxonomy is not None:
        category["enum"] = list(taxonomy.categories)
        sub_category["enum"] = list(taxonomy.sub_categories)
    properties: dict[str, Any] = {
        "category": category,
        "sub_category": sub_category,
        "summary": _text(MAX_SUMMARY, "Short factual summary of the conversation.", 1),
        "customer_request": _text(
            MAX_CUSTOMER_REQUEST, "What the customer wants, in one sentence.", 1
        ),
        "resolution": _text(MAX_RESOLUTION, "What was done or proposed; empty if nothing.", 0),
        "amounts": {
            "type": "array",
            "maxItems": MAX_AMOUNTS,
            "items": {
                "type": "object",
                "properties": {
                    "value": {"type": "string", "pattern": AMOUNT_PATTERN},
                    "currency": {"type": ["string", "null"], "pattern": CURRENCY_PATTERN},
                },
                "required": ["value", "currency"],
                "additionalProperties": False,
            },
        },
        "dates": {
            "type": "array",
            "maxItems": MAX_DATES,
            "items": {"type": "string", "pattern": DATE_PATTERN},
        },
        "card_or_account": {
            "type": ["string", "null"],
            "maxLength": MAX_CARD_OR_ACCOUNT,
            "description": "Last four digits only, e.g. 'card ending 1234'.",
        },
    }
    schema: dict[str, Any] = {"title": "ticket", "type": "object", "properties": properties}
    if llm:
        schema["required"] = list(LLM_FIELDS)
    else:
        properties["intent"] = {"type": ["string", "null"], "maxLength": MAX_INTENT}
        properties["filled_by"] = {"type": "string", "enum": ["offline", "llm"]}
        properties["sources"] = {
            "type": "object",
            "properties": {},
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": MAX_SOURCE},
        }
        schema["required"] = list(_REQUIRED_ALWAYS)
    schema["additionalProperties"] = False
    return schema


def validate(instance: object, schema: Mapping[str, Any], path: str = "ticket") -> list[str]:
    """Every way `instance` breaks `schema`, as "path: problem" lines; empty when valid."""
    problems: list[str] = []
    _check(instance, schema, path, problems)
    return problems


def _text(limit: int, description: str, minimum: int) -> dict[str, Any]:
    return {"type": "string", "minLength": minimum, "maxLength": limit, "description": description}


def _check(value: object, schema: Mapping[str, Any], path: str, problems: list[str]) -> None:
    types = schema.get("type")
    if types is not None:
        allowed = [types] if isinstance(types, str) else list(types)
        if not any(_is(value, kind) for kind in allowed):
            problems.append(f"{path}: must be {' or '.join(allowed)}, not {_json_type(value)}")
            return
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {_choices(schema['enum'])}")
        return
    if isinstance(value, str):
        _check_string(value, schema, path, problems)
    elif isinstance(value, list | tuple):
        _check_array(value, schema, path, problems)
    elif isinstance(value, Mapping):
        _check_object(value, schema, path, problems)


def _check_string(value: str, schema: Mapping[str, Any], path: str, problems: list[str]) -> None:
    if len(value) < schema.get("minLength", 0):
        problems.append(f"{path}: must not be empty" if value == "" else f"{path}: too short")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        problems.append(f"{path}: longer than {schema['maxLength']} characters ({len(value)})")
    if "pattern" in schema and re.search(schema["pattern"], value) is None:
        problems.append(f"{path}: {value!r} does not match {schema['pattern']}")


def _check_array(
    value: Sequence[object], schema: Mapping[str, Any], path: str, problems: list[str]
) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        problems.append(f"{path}: more than {schema['maxItems']} items ({len(value)})")
    items = schema.get("items")
    if items is not None:
        for position, item in enumerate(value):
            _check(item, items, f"{path}[{position}]", problems)


def _check_object(
    value: Mapping[Any, Any], schema: Mapping[str, Any], path: str, problems: list[str]
) -> None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    missing = [key for key in schema.get("required", ()) if key not in value]
    if missing:
        problems.append(f"{path}: missing {', '.join(missing)}")
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        where = f"{path}.{key}"
        if not isinstance(key, str):
            problems.append(f"{path}: key {key!r} is not a string")
        elif key in properties:
            _check(item, properties[key], where, problems)
        elif extra is False:
            problems.append(f"{where}: unknown field")
        elif isinstance(extra, Mapping):
            _check(item, extra, where, problems)


def _is(value: object, kind: str) -> bool:
    if kind in ("integer", "number", "boolean") and isinstance(value, bool):
        return kind == "boolean"
    if kind == "array" and isinstance(value, str):
        return False
    return isinstance(value, _JSON_TYPES.get(kind, ()))


def _json_type(value: object) -> str:
    for kind in ("null", "boolean", "string", "integer", "number", "array", "object"):
        if _is(value, kind):
            return kind
    return type(value).__name__


def _choices(options: Sequence[object]) -> str:
    shown = ", ".join(repr(option) for option in options[:12])
    return shown + (", …" if len(options) > 12 else "")
