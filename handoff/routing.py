"""Routing policy, pure: which ready agent gets a waiting conversation, and how long a wait."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from handoff.presence import AgentPresence
from handoff.queue import QueueEntry

__all__ = ["choose_agent", "estimate_wait_seconds", "staffed_slots"]


def choose_agent(
    entry: QueueEntry,
    agents: Iterable[AgentPresence],
    busy_with_offer: set[str],
    now: datetime,
    *,
    overflow: bool = False,
) -> AgentPresence | None:
    """The least-loaded ready agent with room who serves the entry's queue, longest since
    their last assignment; with `overflow` (the customer waited too long for that skill),
    any ready agent.

    Agents who already passed on this conversation are skipped; an agent holds at most one
    pending offer at a time so an offer is never a race between two conversations.
    """
    candidates = [
        agent
        for agent in agents
        if agent.can_take(now)
        and (overflow or agent.serves(entry.queue))
        and agent.agent_id not in entry.tried
        and agent.agent_id not in busy_with_offer
    ]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda a: (
            a.load,
            a.last_assigned_at is not None,
            a.last_assigned_at or now,
            a.agent_id,
        ),
    )


def staffed_slots(agents: Iterable[tuple[str, int]]) -> int:
    """Chat slots of agents who are logged in and not 'not ready', from (status, capacity)
    pairs: the cluster's presence board speaks in those, not in `AgentPresence`."""
    return sum(capacity for status, capacity in agents if status in ("ready", "busy", "wrap_up"))


def estimate_wait_seconds(position: int, slots: int, average_handle_seconds: float) -> int:
    """Position x average handle time / staffed chat slots: a classic, honest estimate.

    With none staffed the estimate is one handle time per position, so the customer never
    sees zero for a wait that cannot end soon.
    """
    return math.ceil(position * average_handle_seconds / max(slots, 1))
