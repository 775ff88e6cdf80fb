"""A fake OpenAI-compatible chat-completions server on loopback.

It checks every request's shape like a strict server would, records it (so a test can
see exactly what left Tandem, e.g. that card numbers were masked), and answers according
to its `mode`: a good answer, a slow one, an HTTP 500, content that is not JSON, JSON
that breaks the ticket schema, or an older server's 400 for `json_schema` formats.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from aiohttp import web

__all__ = ["FakeOpenAI", "Mode", "RecordedRequest"]

Mode: TypeAlias = Literal[
    "ok", "slow", "http_500", "invalid_json", "schema_violation", "reject_json_schema"
]

_PATH = "/v1/chat/completions"


@dataclass(frozen=True)
class RecordedRequest:
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def response_format(self) -> str:
        return str(self.body["response_format"]["type"])

    @property
    def text(self) -> str:
        """Everything the model was told, system and user messages together."""
        return "\n".join(m["content"] for m in self.body["messages"])


@dataclass
class FakeOpenAI:
    """Start with `await server.start()`; `base_url` is then "http://127.0.0.1:<port>/v1"."""

    mode: Mode = "ok"
    # What the model "writes": serialised as the message content in "ok" mode.
    content: dict[str, Any] = field(default_factory=dict)
    # How long "slow" mode waits before answering (beyond the client's timeout).
    delay: float = 5.0
    api_key: str | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    # Shape problems found in requests; a test asserts this stays empty.
    shape_errors: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(_PATH, self._complete)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self._release.set()  # let a "slow" answer finish so shutdown does not wait for it
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _complete(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "request body is not JSON")
        self.requests.append(RecordedRequest(body, dict(request.headers)))
        problems = _shape_problems(body)
        authorization = request.headers.get("Authorization")
        if self.api_key is not None and authorization != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        if problems:
            self.shape_errors.extend(problems)
            return _error(400, "; ".join(problems))
        kind = body["response_format"]["type"]
        if self.mode == "reject_json_schema" and kind == "json_schema":
            return _error(400, "response_format type 'json_schema' is not supported")
        if self.mode == "http_500":
            return _error(500, "The server had an error while processing your request", "server")
        if self.mode == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.delay)
        if self.mode == "invalid_json":
            return _completion(body, 'Sure! Here is the ticket: {"category": "Cards",')
        if self.mode == "schema_violation":
            wrong = dict(self.content)
            wrong.pop("summary", None)
            wrong["category"] = "Mortgages"
            wrong["amounts"] = [{"value": "twelve", "currency": "euros"}]
            return _completion(body, json.dumps(wrong))
        return _completion(body, json.dumps(self.content))


def _shape_problems(body: object) -> list[str]:
    if not isinstance(body, dict):
        return ["body must be an object"]
    problems = []
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model must be a non-empty string")
    messages = body.get("messages")
    if (
        not isinstance(messages, list)
        or [m.get("role") for m in messages if isinstance(m, dict)] != ["system", "user"]
        or not all(isinstance(m.get("content"), str) and m["content"] for m in messages)
    ):
        problems.append("messages must be [system, user] with string contents")
    if body.get("temperature") != 0:
        problems.append("temperature must be 0")
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        response_format = {}
    kind = response_format.get("type")
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("name"), str)
            or spec.get("strict") is not True
            or not isinstance(spec.get("schema"), dict)
            or spec["schema"].get("type") != "object"
        ):
            problems.append("json_schema must have name, strict: true and an object schema")
    elif kind == "json_object":
        if "json" not in json.dumps(messages).lower():
            problems.append("json_object needs the word JSON in the messages")
    else:
        problems.append("response_format.type must be json_schema or json_object")
    return problems


def _completion(request: dict[str, Any], content: str) -> web.Response:
    return web.json_response(
        {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
    )


def _error(status: int, message: str, code: str = "invalid_request_error") -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": code, "param": None, "code": None}},
        status=status,
    )
