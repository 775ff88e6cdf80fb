"""REST for calls: download a call's recording (agents who served it, supervisors)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.api import SERVICES
from gateway.auth import AuthError, Principal
from sessions.errors import DomainError
from sessions.handlers import agent_handler

__all__ = ["call_routes"]

_CONTENT_TYPES = {".mka": "audio/x-matroska", ".webm": "video/webm"}


def _principal(request: web.Request) -> Principal:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("unauthorized", "send Authorization: Bearer <token>")
    return request.app[SERVICES].verifier.verify(token.strip())


async def download_recording(request: web.Request) -> web.StreamResponse:
    principal = _principal(request)
    services = request.app[SERVICES]
    conversation_id = request.match_info["conversation_id"]
    call_id = request.match_info["call_id"]
    if len(conversation_id) > 64 or len(call_id) > 64:
        raise DomainError("not_found", "no such recording")
    if await services.conversations.state(conversation_id) is None:
        raise DomainError("not_found", f"no conversation {conversation_id}")
    if principal.role == "customer":
        raise DomainError("forbidden", "recordings are for the bank's staff")
    history = await services.conversations.history(conversation_id)
    if principal.role == "agent" and not any(
        e.type == "handler.changed" and e.data.get("to") == agent_handler(principal.id)
        for e in history
    ):
        raise DomainError("forbidden", f"you have not served conversation {conversation_id}")
    saved = [e for e in history if e.type == "recording.saved" and e.data["call_id"] == call_id]
    if not saved:
        raise DomainError("not_found", f"no recording of call {call_id} in {conversation_id}")
    directory = services.settings.recordings_dir.resolve()
    path = (directory / str(saved[-1].data["path"])).resolve()
    # The log names a file in the recordings directory; never follow it anywhere else.
    if not path.is_relative_to(directory) or not path.is_file():
        raise DomainError("not_found", f"the recording of call {call_id} is no longer kept")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _CONTENT_TYPES.get(Path(path).suffix, "application/octet-stream"),
            "Content-Disposition": f'attachment; filename="{path.name}"',
            "Cache-Control": "no-store",
            "X-Content-SHA256": str(saved[-1].data["sha256"]),
        },
    )


def call_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/v1/conversations/{conversation_id}/recordings/{call_id}", download_recording),
    ]
