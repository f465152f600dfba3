"""The base of every domain error: each declares the HTTP status it means.

Apps subclass ``DomainError`` (``chats.exceptions.ChatError``, ``ehr.exceptions.EhrError``) and
set ``status_code``; ``medibot.exception_handler`` turns any of them into a response without
knowing which app raised it.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """An error a service raises on purpose; ``message`` is safe to show (never PHI)."""

    status_code: int = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra

    def body(self) -> Any:
        """The JSON body of the error response."""
        return {"detail": self.message, **self.extra}
