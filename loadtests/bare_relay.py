"""The baseline for `bench_relay.py`: a bare python-socketio relay, no domain at all.

Same shape of traffic as Tandem's chat path, nothing else: no auth, no log, no bot, no
routing, no idempotency store, no validation beyond what is needed not to crash.

  /customer  conversation.start {key}                  -> ack {ok, conversation_id, created, seq}
  /agent     conversation.join  {conversation_id}      -> ack {ok, conversation_id, seq}
  both       message.send {key, conversation_id, text} -> ack {ok, conversation_id, seq}
             and `event` {conversation_id, seq, type: "message.sent", actor, data: {text}, at}
             to everyone in the conversation's room (both namespaces) except the sender.

`seq` is a per-conversation counter. GET /healthz answers {"status": "ok"}.

Run:  python loadtests/bare_relay.py --port 8090
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web

NAMESPACES = ("/customer", "/agent")


def build_app() -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins="*",
        logger=False,
        engineio_logger=False,
    )
    app = web.Application()
    sio.attach(app)

    counter = itertools.count(1)
    seqs: dict[str, int] = {}  # conversation id -> last seq
    rooms_of: dict[tuple[str, str], str] = {}  # (namespace, sid) -> conversation id
    customer_conversation: dict[str, str] = {}  # customer sid -> open conversation

    def _error(code: str, message: str) -> dict[str, Any]:
        return {"ok": False, "error": {"code": code, "message": message}}

    async def start(sid: str, data: Any) -> dict[str, Any]:
        existing = customer_conversation.get(sid)
        if existing is not None:
            seq = seqs[existing]
            return {"ok": True, "conversation_id": existing, "created": False, "seq": seq}
        conversation_id = f"c-{next(counter)}"
        seqs[conversation_id] = 0
        customer_conversation[sid] = conversation_id
        rooms_of[("/customer", sid)] = conversation_id
        await sio.enter_room(sid, conversation_id, namespace="/customer")
        return {"ok": True, "conversation_id": conversation_id, "created": True, "seq": 0}

    async def join(sid: str, data: Any) -> dict[str, Any]:
        conversation_id = data.get("conversation_id") if isinstance(data, dict) else None
        if conversation_id not in seqs:
            return _error("not_found", "no such conversation")
        rooms_of[("/agent", sid)] = conversation_id
        await sio.enter_room(sid, conversation_id, namespace="/agent")
        return {"ok": True, "conversation_id": conversation_id, "seq": seqs[conversation_id]}

    def make_send(namespace: str, role: str) -> Any:
        async def send(sid: str, data: Any) -> dict[str, Any]:
            if not isinstance(data, dict):
                return _error("invalid_payload", "payload: must be a JSON object")
            conversation_id = data.get("conversation_id")
            text = data.get("text")
            if conversation_id not in seqs:
                return _error("not_found", "no such conversation")
            if not isinstance(text, str) or not text:
                return _error("invalid_payload", "text: required")
            seq = seqs[conversation_id] + 1
            seqs[conversation_id] = seq
            event = {
                "conversation_id": conversation_id,
                "seq": seq,
                "type": "message.sent",
                "actor": f"{role}:{sid}",
                "data": {"text": text},
                "at": datetime.now(UTC).isoformat(),
            }
            for ns in NAMESPACES:
                await sio.emit(
                    "event",
                    event,
                    room=conversation_id,
                    namespace=ns,
                    skip_sid=sid if ns == namespace else None,
                )
            return {"ok": True, "conversation_id": conversation_id, "seq": seq}

        return send

    async def connect(sid: str, environ: Any, auth: Any = None) -> bool:
        return True

    def make_disconnect(namespace: str) -> Any:
        async def disconnect(sid: str, *args: Any) -> None:
            rooms_of.pop((namespace, sid), None)
            if namespace == "/customer":
                customer_conversation.pop(sid, None)

        return disconnect

    for ns, role in (("/customer", "customer"), ("/agent", "agent")):
        sio.on("connect", connect, namespace=ns)
        sio.on("disconnect", make_disconnect(ns), namespace=ns)
        sio.on("message.send", make_send(ns, role), namespace=ns)
    sio.on("conversation.start", start, namespace="/customer")
    sio.on("conversation.join", join, namespace="/agent")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Bare python-socketio relay (benchmark baseline).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    print(f"bare relay listening on http://{args.host}:{args.port}", flush=True)
    # run_app handles SIGINT and SIGTERM itself: both end it cleanly.
    web.run_app(build_app(), host=args.host, port=args.port, print=None, shutdown_timeout=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
