"""Who may see which conversation: the one rule shared by socket.io and REST."""

from __future__ import annotations

from gateway.auth import Principal
from sessions.errors import DomainError
from sessions.handlers import agent_handler
from sessions.state import ConversationState

__all__ = ["check_can_read"]


def check_can_read(
    principal: Principal, state: ConversationState | None, conversation_id: str
) -> ConversationState:
    """The state if `principal` may read it; otherwise `not_found` for customers (an
    outsider learns nothing, not even that the id exists) and `forbidden` for staff."""
    if state is None:
        raise DomainError("not_found", f"no conversation {conversation_id}")
    if principal.role == "supervisor":
        return state
    if principal.role == "customer":
        if state.customer_id != principal.id:
            raise DomainError("not_found", f"no conversation {conversation_id}")
        return state
    if state.handler != agent_handler(principal.id):
        raise DomainError("forbidden", f"conversation {conversation_id} is not assigned to you")
    return state
