"""A bounded, least-recently-used cache of conversation states."""

from __future__ import annotations

from collections import OrderedDict

from sessions.state import ConversationState

__all__ = ["StateCache"]


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
