"""The contract every responder fulfils, and the types it exchanges with the chat turn.

Nothing here imports the write layer: services take ``Reply`` from here, and the EHR context
is ``ehr.summary.EhrSummary`` (re-exported), so ``ehr`` never imports ``chats``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from chats.models import MessageStatus
from ehr.summary import EhrFact, EhrSummary

__all__ = ["EhrFact", "EhrSummary", "Reply", "Responder", "ResponderError", "Turn"]


@dataclass
class Reply:
    """What a responder produced, ready to be stored as the assistant message."""

    content: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    source_documents: list[dict[str, Any]] = field(default_factory=list)
    agent_steps: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = MessageStatus.COMPLETED
    error_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation, as the responder sees it."""

    role: str
    content: str


class ResponderError(Exception):
    """The provider failed (timeout, HTTP error, malformed answer); ``code`` is safe to store."""

    def __init__(self, message: str, *, code: str = "provider_error") -> None:
        super().__init__(message)
        self.code = code


class Responder(Protocol):
    name: str

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        """The complete assistant reply; raises ResponderError."""
        ...

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        """Text chunks as they are generated, then exactly one final Reply; raises ResponderError."""
        ...
