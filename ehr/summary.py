"""The EHR context a chat responder receives: plain data, so ``ehr`` needs nothing from ``chats``."""

from __future__ import annotations

from dataclasses import dataclass, field


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
