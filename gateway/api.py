"""REST API under /api/v1, plus /healthz and /readyz. Errors: {"error": {code, message}}."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from gateway import schemas
from gateway.access import check_can_read
from gateway.auth import AuthError, Principal
from gateway.context import Services
from gateway.demo import demo_person
from handoff.bot.intents import understood_json
from sessions.errors import DomainError
from sessions.store import ConversationQuery

__all__ = ["SERVICES", "routes"]

log = logging.getLogger("tandem.api")

SERVICES = web.AppKey("services", Services)

_STATUS = {
    "invalid_payload": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "conversation_closed": 409,
    "invalid_state": 409,
    "conflict": 409,
    "retry": 503,
    "warming_up": 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=_STATUS.get(code, 500)
    )


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (DomainError, AuthError, schemas.PayloadError) as failure:
        return _error(failure.code, failure.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed) as missing:
        if not request.path.startswith("/api/"):
            raise
        code = "not_found" if isinstance(missing, web.HTTPNotFound) else "invalid_payload"
        return web.json_response(
            {
                "error": {
                    "code": code,
                    "message": f"{request.method} {request.path}: {missing.reason}",
                }
            },
            status=missing.status,
        )
    except web.HTTPException:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _error("internal", "internal error")


def _principal(request: web.Request) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("unauthorized", "send Authorization: Bearer <token>")
    return request.app[SERVICES].verifier.verify(token.strip())


def _param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and "\x00" in value:
        raise DomainError("invalid_payload", f"{name}: must not contain NUL characters")
    return value


def _conversation_id(request: web.Request) -> str:
    """The id in the path. One that no conversation can have (too long, a NUL) is simply
    not found: the same answer as for any other unknown id."""
    conversation_id = request.match_info["conversation_id"]
    if len(conversation_id) > 64 or "\x00" in conversation_id:
        raise DomainError("not_found", "no such conversation")
    return conversation_id


def _int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DomainError("invalid_payload", f"{name}: must be an integer") from None
    if not low <= value <= high:
        raise DomainError("invalid_payload", f"{name}: must be between {low} and {high}")
    return value


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    checks: dict[str, Any] = {}
    ready = True
    for name, ping in services.checks.items():
        try:
            await asyncio.wait_for(ping(), timeout=2)
            checks[name] = {"status": "ok"}
        except Exception as error:
            ready = False
            checks[name] = {"status": "failing", "error": str(error) or type(error).__name__}
    checks["store"]["kind"] = type(services.store).__name__
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return web.json_response(body, status=200 if ready else 503)


async def demo_login(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    if not services.settings.demo or services.issuer is None:
        raise DomainError("not_found", "demo login is off (TANDEM_DEMO is not set)")
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise DomainError("invalid_payload", "body: must be JSON") from None
    username = body.get("username") if isinstance(body, dict) else None
    if not isinstance(username, str) or not username or "\x00" in username:
        raise DomainError("invalid_payload", "username: required, text without NUL characters")
    person = await demo_person(services.directory, username.strip().lower())
    if person is None:
        raise DomainError("not_found", f"no demo user {username!r}")
    token, expires = services.issuer.issue(person)
    return web.json_response(
        {
            "token": token,
            "role": person.role,
            "id": person.id,
            "name": person.name,
            "expires_at": expires.isoformat(),
        }
    )


async def me(request: web.Request) -> web.Response:
    principal = _principal(request)
    return web.json_response({"id": principal.id, "role": principal.role, "name": principal.name})


async def list_conversations(request: web.Request) -> web.Response:
    principal = _principal(request)
    services = request.app[SERVICES]
    status = _param(request, "status")
    if status not in (None, "open", "closed"):
        raise DomainError("invalid_payload", "status: must be open or closed")
    customer_id = _param(request, "customer_id")
    if principal.role == "customer":
        if customer_id not in (None, principal.id):
            raise DomainError("forbidden", "customers see only their own conversations")
        customer_id = principal.id
    query = ConversationQuery(
        customer_id=customer_id,
        status=status,  # type: ignore[arg-type]
        handler=_param(request, "handler"),
        limit=_int_param(request, "limit", 100, 1, 1000),
    )
    found = await services.conversations.list(query)
    return web.json_response({"conversations": [s.to_json() for s in found]})


async def get_conversation(request: web.Request) -> web.Response:
    principal = _principal(request)
    services = request.app[SERVICES]
    conversation_id = _conversation_id(request)
    state = await services.conversations.state(conversation_id)
    return web.json_response(check_can_read(principal, state, conversation_id).to_json())


async def conversation_events(request: web.Request) -> web.Response:
    principal = _principal(request)
    services = request.app[SERVICES]
    conversation_id = _conversation_id(request)
    state = check_can_read(
        principal, await services.conversations.state(conversation_id), conversation_id
    )
    after = _int_param(request, "after_seq", 0, 0, 2**62)
    limit = _int_param(request, "limit", 500, 1, 5000)
    events = await services.conversations.history(conversation_id, after, limit)
    return web.json_response({"events": [e.to_json() for e in events], "last_seq": state.last_seq})


async def list_agents(request: web.Request) -> web.Response:
    principal = _principal(request)
    if principal.role == "customer":
        raise DomainError("forbidden", "agents and supervisors only")
    services = request.app[SERVICES]
    online = {a["agent_id"]: a for a in await services.router.everyone()}
    agents = []
    for person in await services.directory.of_role("agent"):
        agents.append(
            online.pop(person.id, None)
            or {
                "agent_id": person.id,
                "name": person.name,
                "status": "offline",
                "load": 0,
                "capacity": services.settings.agent_capacity,
                "conversations": [],
                "skills": sorted(person.skills),
            }
        )
    agents.extend(online.values())
    return web.json_response({"agents": sorted(agents, key=lambda a: a["agent_id"])})


async def understand(request: web.Request) -> web.Response:
    """What a text asks for and the details it gives: for integrators (the mobile app's
    search box), with any valid token."""
    _principal(request)
    services = request.app[SERVICES]
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise DomainError("invalid_payload", "body: must be JSON") from None
    text = schemas.parse(schemas.Understand, body).text
    understood = await services.understanding.understand(text)
    logged = understood_json(understood)
    return web.json_response(
        {
            "intent": understood.intent,
            "confidence": logged["confidence"],
            "alternatives": [
                {"intent": intent, "confidence": round(confidence, 3)}
                for intent, confidence in understood.alternatives
            ],
            "slots": [
                {**slot, "span": list(original.span)}
                for slot, original in zip(logged["slots"], understood.slots, strict=True)
            ],
        }
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.post("/api/v1/demo/login", demo_login),
        web.get("/api/v1/me", me),
        web.get("/api/v1/conversations", list_conversations),
        web.get("/api/v1/conversations/{conversation_id}", get_conversation),
        web.get("/api/v1/conversations/{conversation_id}/events", conversation_events),
        web.get("/api/v1/agents", list_agents),
        web.post("/api/v1/understand", understand),
    ]
