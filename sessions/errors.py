"""Domain errors. Each carries a stable `code` that the edges map to acks and HTTP."""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = ["ConcurrencyError", "DomainError", "ErrorCode", "StoreUnavailable"]

ErrorCode: TypeAlias = Literal[
    "not_found",
    "forbidden",
    "conversation_closed",
    "invalid_state",
    "invalid_payload",
    "conflict",
    "retry",
]


class DomainError(Exception):
    """A command was refused; nothing was changed."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message


class ConcurrencyError(DomainError):
    """Another writer appended first: the expected `seq` no longer holds."""

    def __init__(self, conversation_id: str, expected: int, actual: int) -> None:
        super().__init__(
            "conflict",
            f"conversation {conversation_id} is at seq {actual}, expected {expected}",
        )
        self.expected = expected
        self.actual = actual


class StoreUnavailable(DomainError):
    """A store dependency is briefly unreachable; the command may be retried with its key."""

    def __init__(self, message: str) -> None:
        super().__init__("retry", message)
