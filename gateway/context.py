"""The running parts the edges (socket.io namespaces, REST) share, built once in `create_app`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from gateway.auth import TokenIssuer, TokenVerifier
from gateway.delivery import Delivery
from gateway.settings import Settings
from gateway.signaling import CallSignaling
from gateway.speech import SpeechRuntime
from gateway.understanding import UnderstandingRuntime
from handoff.conductor import Conductor
from handoff.directory import MemoryDirectory
from handoff.router import Router
from handoff.tickets.desk import TicketDesk
from media.calls import Calls
from sessions.service import ConversationService
from sessions.store import SessionStore

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    store: SessionStore
    conversations: ConversationService
    router: Router
    conductor: Conductor
    delivery: Delivery
    directory: MemoryDirectory
    verifier: TokenVerifier
    issuer: TokenIssuer | None
    clock: Callable[[], datetime]
    # Readiness: each dependency's name and a call that raises if it cannot serve.
    checks: dict[str, Callable[[], Awaitable[None]]]
    understanding: UnderstandingRuntime
    tickets: TicketDesk
    signaling: CallSignaling
    speech: SpeechRuntime

    @property
    def calls(self) -> Calls:
        """This process's live calls (once the first call has been made)."""
        return self.signaling.calls
