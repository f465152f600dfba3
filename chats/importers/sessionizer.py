"""Conversations from rows that carry none: a user's rows, in time order, split at long silences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(slots=True)
class OpenSession:
    """The conversation the next row of the same user may continue (kept in the checkpoint)."""

    user_key: str
    legacy_key: str
    user_id: int
    created_at: datetime
    last_at: datetime
    last_order: int
    title: str | None
    titled: bool

    def to_state(self) -> dict[str, Any]:
        return {
            "user_key": self.user_key,
            "legacy_key": self.legacy_key,
            "user_id": self.user_id,
            "created_at": self.created_at.isoformat(),
            "last_at": self.last_at.isoformat(),
            "last_order": self.last_order,
            "title": self.title,
            "titled": self.titled,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> OpenSession:
        return cls(
            user_key=state["user_key"],
            legacy_key=state["legacy_key"],
            user_id=int(state["user_id"]),
            created_at=datetime.fromisoformat(state["created_at"]),
            last_at=datetime.fromisoformat(state["last_at"]),
            last_order=int(state["last_order"]),
            title=state["title"],
            titled=bool(state["titled"]),
        )


class GapSessions:
    """Assigns rows read in (user, time, id) order to sessions; a gap over ``gap`` starts a new one."""

    def __init__(self, *, gap: timedelta, state: dict[str, Any] | None = None) -> None:
        self.gap = gap
        self.current = OpenSession.from_state(state) if state else None

    def place(self, *, user_key: str, user_id: int, moment: datetime, first_row_key: str) -> OpenSession:
        """The session of a row at ``moment``; opens a new one keyed by this row when needed."""
        current = self.current
        if current is None or current.user_key != user_key or moment - current.last_at > self.gap:
            current = OpenSession(
                user_key=user_key,
                legacy_key=first_row_key,
                user_id=user_id,
                created_at=moment,
                last_at=moment,
                last_order=0,
                title=None,
                titled=False,
            )
            self.current = current
        current.last_at = max(current.last_at, moment)
        return current

    def state(self) -> dict[str, Any] | None:
        return self.current.to_state() if self.current else None
