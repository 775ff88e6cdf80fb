"""The LLM port over HTTP, for any OpenAI-compatible chat-completions server.

Banks run their models on their own premises (vLLM, TGI, llama.cpp, Ollama...), all of
which speak `POST {base_url}/chat/completions`. The answer is constrained with a strict
`json_schema` response format; a server too old for that gets one retry with
`json_object` and the schema spelt out in the prompt, and is then asked that way from
the start. Every failure becomes an `LLMError` whose message says what to fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from handoff.tickets.llm import LLMError

__all__ = ["OpenAIChatLLM"]

log = logging.getLogger("tandem.llm")

_SCHEMA_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Statuses with which servers refuse an unknown `response_format` (400 from most, 422
# from FastAPI-based ones).
_FORMAT_REJECTED = frozenset({400, 422})
_ERROR_SNIPPET = 300
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class OpenAIChatLLM:
    """`handoff.tickets.llm.LLM` over an OpenAI-compatible chat-completions endpoint.

    `base_url` includes the API prefix, e.g. "http://llm.bank.internal:8000/v1". The
    HTTP session is created on first use with `session_factory` and closed by `close()`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        *,
        session_factory: Callable[[], aiohttp.ClientSession] = aiohttp.ClientSession,
        max_tokens: int | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM base URL must start with http:// or https://: {base_url!r}")
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._api_key = api_key
        self._model = model
        self._session_factory = session_factory
        self._max_tokens = max_tokens
        self._session: aiohttp.ClientSession | None = None
        # Learnt from the server: once it refused json_schema, asking again costs a round trip.
        self._json_schema_supported = True

    @property
    def url(self) -> str:
        return self._url

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> OpenAIChatLLM:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def complete_json(
        self,
        system: str,
        user: str,
        schema: Mapping[str, Any],
        *,
        timeout: float,  # noqa: ASYNC109 (the port's contract: becomes the HTTP deadline)
    ) -> Mapping[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._json_schema_supported:
            status, body = await self._post(
                self._body(system, user, _json_schema_format(schema)), deadline, timeout
            )
            if status not in _FORMAT_REJECTED:
                return _answer(status, body)
            log.info(
                "LLM server refused response_format json_schema (HTTP %s: %s); retrying"
                " with json_object",
                status,
                _snippet(body),
            )
        fallback_system = (
            f"{system}\n\nReply with one JSON object that conforms to this JSON schema:\n"
            f"{json.dumps(schema, ensure_ascii=False)}"
        )
        status, body = await self._post(
            self._body(fallback_system, user, {"type": "json_object"}), deadline, timeout
        )
        answer = _answer(status, body)
        self._json_schema_supported = False
        return answer

    def _body(self, system: str, user: str, response_format: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "response_format": response_format,
        }
        if self._max_tokens is not None:
            body["max_tokens"] = self._max_tokens
        return body

    async def _post(self, body: dict[str, Any], deadline: float, budget: float) -> tuple[int, str]:
        """POST `body` with whatever is left until `deadline` (of the call's `budget` seconds)."""
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise LLMError(f"LLM at {self._url}: no answer within {budget:.1f}s")
        headers: dict[str, str] = {}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        try:
            session = self._get_session()
            async with session.post(
                self._url,
                json=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=remaining),
            ) as response:
                return response.status, await response.text()
        except TimeoutError as exc:
            raise LLMError(f"LLM at {self._url}: no answer within {budget:.1f}s") from exc
        except aiohttp.ClientError as exc:
            raise LLMError(
                f"LLM at {self._url}: request failed ({type(exc).__name__}: {exc})"
            ) from exc

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._session_factory()
        return self._session


def _json_schema_format(schema: Mapping[str, Any]) -> dict[str, Any]:
    title = schema.get("title")
    name = title if isinstance(title, str) and _SCHEMA_NAME.match(title) else "response"
    return {
        "type": "json_schema",
        "json_schema": {"name": name, "strict": True, "schema": dict(schema)},
    }


def _answer(status: int, body: str) -> dict[str, Any]:
    """The JSON object in a chat-completions response, or an LLMError saying what is wrong."""
    if status in (401, 403):
        raise LLMError(f"LLM refused the credentials (HTTP {status}): check the API key")
    if status == 429:
        raise LLMError(f"LLM is rate limiting (HTTP 429): {_snippet(body)}")
    if status != 200:
        raise LLMError(f"LLM answered HTTP {status}: {_snippet(body)}")
    # Messages below describe the answer's shape, never quote it: it is about a customer.
    not_completion = "LLM response is not a chat completion (no choices[0].message)"
    try:
        response = json.loads(body)
        choice = response["choices"][0]
        message = choice["message"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(not_completion) from exc
    if not isinstance(choice, Mapping) or not isinstance(message, Mapping):
        raise LLMError(not_completion)
    if message.get("refusal"):
        raise LLMError(f"LLM refused to answer: {_snippet(str(message['refusal']))}")
    if choice.get("finish_reason") == "length":
        raise LLMError("LLM answer was cut off at its token limit (finish_reason 'length')")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise LLMError("LLM answer has no content")
    text = content.strip()
    fenced = _FENCE.match(text)
    if fenced:
        # Some models wrap JSON in a Markdown fence when only asked for json_object.
        text = fenced.group(1)
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LLMError(
            f"LLM answer is not valid JSON ({exc.msg} at character {exc.pos} of {len(text)})"
        ) from exc
    if not isinstance(answer, dict):
        raise LLMError(f"LLM answer is JSON but not an object (a {type(answer).__name__})")
    return answer


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _ERROR_SNIPPET else flat[: _ERROR_SNIPPET - 1] + "…"
