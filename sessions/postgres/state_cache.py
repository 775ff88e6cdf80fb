"""A bounded, least-recently-used cache of conversation states, and the port of a cache
shared between nodes."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from sessions.state import ConversationState

__all__ = ["SharedStates", "StateCache"]


class StateCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._states: OrderedDict[str, ConversationState] = OrderedDict()

    def get(self, conversation_id: str) -> ConversationState | None:
        state = self._states.get(conversation_id)
        if state is not None:
            self._states.move_to_end(conversation_id)
        return state

    def put(self, state: ConversationState) -> None:
        self._states[state.id] = state
        self._states.move_to_end(state.id)
        while len(self._states) > self._size:
            self._states.popitem(last=False)

    def forget(self, conversation_id: str) -> None:
        self._states.pop(conversation_id, None)


class SharedStates(Protocol):
    """Conversation states every node can read (Redis): a second tier behind this
    process's `StateCache`. Never the truth; a miss or an error means "ask the store"."""

    async def start(self) -> None: ...

    async def get(self, conversation_id: str) -> ConversationState | None: ...

    def put(self, state: ConversationState) -> None: ...

    async def close(self) -> None: ...
