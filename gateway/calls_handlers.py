"""The call commands of the /customer and /agent namespaces: validate -> signaling -> ack.

Registered by the namespaces next to their own commands; errors are raised (as
`PayloadError` or `DomainError`) and turned into `{ok: false, error}` acks there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway import schemas
from gateway.auth import Principal
from gateway.signaling import CallSignaling

__all__ = ["agent_call_commands", "customer_call_commands"]

Ack = dict[str, Any]
CommandHandler = Callable[[str, Principal, Any], Awaitable[Ack]]


def _shared(signaling: CallSignaling) -> dict[str, CommandHandler]:
    """What both parties of a call may do."""

    async def hangup(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallRef, payload)
        return {"ok": True, **await signaling.hangup(principal, command)}

    async def mute(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallMute, payload)
        return {"ok": True, **await signaling.mute(principal, command)}

    async def renegotiate(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallRenegotiate, payload)
        return {"ok": True, **await signaling.renegotiate(principal, command)}

    return {"call.hangup": hangup, "call.mute": mute, "call.renegotiate": renegotiate}


def customer_call_commands(signaling: CallSignaling) -> dict[str, CommandHandler]:
    async def start(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallStart, payload)
        return {"ok": True, **await signaling.start_call(principal, command)}

    return {"call.start": start, **_shared(signaling)}


def agent_call_commands(signaling: CallSignaling) -> dict[str, CommandHandler]:
    async def answer(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallAnswer, payload)
        return {"ok": True, **await signaling.answer(principal, command)}

    async def hold(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallRef, payload)
        return {"ok": True, **await signaling.hold(principal, command, held=True)}

    async def unhold(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallRef, payload)
        return {"ok": True, **await signaling.hold(principal, command, held=False)}

    async def transfer(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallTransfer, payload)
        return {"ok": True, **await signaling.transfer(principal, command)}

    async def record(sid: str, principal: Principal, payload: Any) -> Ack:
        command = schemas.parse(schemas.CallRecord, payload)
        return {"ok": True, **await signaling.record(principal, command)}

    return {
        "call.answer": answer,
        "call.hold": hold,
        "call.unhold": unhold,
        "call.transfer": transfer,
        "call.record": record,
        **_shared(signaling),
    }
