"""The contract every responder fulfils."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from chats.services import Reply


@dataclass(frozen=True)
class EhrFact:
    """One EHR record the responder may use: its kind, id and a short human-readable text."""

    kind: str  # "allergy" | "medication" | "condition"
    record_id: int
    text: str


@dataclass(frozen=True)
class EhrSummary:
    """The minimal EHR context of the chatting patient (active allergies, medications, conditions)."""

    facts: list[EhrFact] = field(default_factory=list)

    def record_ids(self) -> dict[str, list[int]]:
        ids: dict[str, list[int]] = {}
        for fact in self.facts:
            ids.setdefault(fact.kind, []).append(fact.record_id)
        return ids


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
