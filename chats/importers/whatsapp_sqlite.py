"""``--source sqlite --path chatbot.db``: the WhatsApp bot's SQLite database (reference 002).

``user(id, phone_number, name, …)`` and ``message(id, user_id, role, content, meta_message_id,
created_at)``. Users become accounts matched by phone number (created, with an unusable password,
when missing); a user's messages, in (created_at, id) order, form one ``whatsapp`` session until a
silence longer than ``--gap-minutes``. Like ``chat_history``, unplaceable rows (no user, no time)
are quarantined in a first pass keyset on ``id``; the second pass is keyset on
``(user_id, created_at, id)``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any

from chats.importers import values
from chats.importers.records import (
    Batch,
    MessageRecord,
    Quarantined,
    Reason,
    Record,
    SessionSpec,
    derived_uuid,
)
from chats.importers.sessionizer import GapSessions, OpenSession
from chats.importers.users import accounts_for_phones, normalise_phone
from chats.models import Channel, Role

COLUMNS = "id, user_id, role, CAST(content AS BLOB), meta_message_id, created_at"
UNPLACEABLE = (
    f"SELECT {COLUMNS} FROM message WHERE (user_id IS NULL OR created_at IS NULL) AND id > ? "  # noqa: S608  # nosec B608 - module constants only; values are bound
    "ORDER BY id LIMIT ?"
)
PLACEABLE = f"SELECT {COLUMNS} FROM message WHERE user_id IS NOT NULL AND created_at IS NOT NULL"  # noqa: S608  # nosec B608 - module constants only; values are bound
AFTER = " AND (user_id, created_at, id) > (?, ?, ?)"
ORDER = " ORDER BY user_id, created_at, id LIMIT ?"
ROLES = {"user": Role.USER, "assistant": Role.ASSISTANT, "bot": Role.ASSISTANT, "system": Role.SYSTEM}


class WhatsAppSource:
    kind = "sqlite"

    def __init__(
        self, *, path: Path, gap: timedelta, legacy_zone: tzinfo, zone_name: str, create_users: bool = True
    ) -> None:
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        self.path = path.resolve()
        self.gap = gap
        self.legacy_zone = legacy_zone
        self.zone_name = zone_name
        self.create_users = create_users
        # Read by the runner's read-ahead thread, never by two threads at once.
        self.connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    @property
    def ref(self) -> str:
        return f"sqlite://{self.path}"

    @property
    def options(self) -> dict[str, Any]:
        return {"gap_minutes": int(self.gap.total_seconds() // 60), "timezone": self.zone_name}

    def warnings(self) -> list[str]:
        rows = self.connection.execute("SELECT name FROM pragma_index_list('message')").fetchall()
        for (name,) in rows:
            columns = [c[2] for c in self.connection.execute("SELECT * FROM pragma_index_info(?)", (name,))]
            if columns[:2] == ["user_id", "created_at"]:
                return []
        return [
            "message has no index on (user_id, created_at): every batch sorts the table. Add one "
            "first: CREATE INDEX ix_message_user_created ON message (user_id, created_at);"
        ]

    def estimate(self) -> int | None:
        return int(self.connection.execute("SELECT COUNT(*) FROM message").fetchone()[0])

    def close(self) -> None:
        self.connection.close()

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        state = checkpoint or {"phase": "unplaceable", "after_id": 0}
        if state["phase"] == "unplaceable":
            after_id = int(state["after_id"])
            while rows := self.connection.execute(UNPLACEABLE, (after_id, batch_size)).fetchall():
                after_id = int(rows[-1][0])
                records: list[Record] = [
                    Quarantined(
                        unit=f"message:{row[0]}",
                        reason=Reason.NULL_USER if row[1] is None else Reason.BAD_TIMESTAMP,
                        row=_raw(row),
                    )
                    for row in rows
                ]
                yield Batch(records, {"phase": "unplaceable", "after_id": after_id})
            state = {"phase": "rows", "after": None, "open": None}
        sessions = GapSessions(gap=self.gap, state=state.get("open"))
        after = state.get("after")
        while True:
            if after is None:
                rows = self.connection.execute(PLACEABLE + ORDER, (batch_size,)).fetchall()
            else:
                rows = self.connection.execute(PLACEABLE + AFTER + ORDER, (*after, batch_size)).fetchall()
            if not rows:
                return
            people, created = self._people({row[1] for row in rows})
            records = []
            for row in rows:
                records.extend(self._records(row, people, sessions))
            last = rows[-1]
            after = [last[1], last[5], last[0]]
            yield Batch(records, {"phase": "rows", "after": after, "open": sessions.state()}, created)

    def _people(self, legacy_ids: set[Any]) -> tuple[dict[Any, tuple[str, int | None]], int]:
        """Legacy user id -> (phone as stored, account id or None when the phone is unusable)."""
        marks = ",".join("?" * len(legacy_ids))
        rows = self.connection.execute(
            f"SELECT id, phone_number, name FROM user WHERE id IN ({marks})",  # noqa: S608  # nosec B608 - only '?' placeholders are interpolated
            tuple(legacy_ids),
        ).fetchall()
        phones: dict[str, str] = {}
        people: dict[Any, tuple[str, str | None]] = {}
        for legacy_id, raw_phone, name in rows:
            phone = normalise_phone(raw_phone if isinstance(raw_phone, str) else None)
            people[legacy_id] = (str(raw_phone), phone)
            if phone is not None:
                phones.setdefault(phone, name if isinstance(name, str) else "")
        accounts, created = accounts_for_phones(phones, create=self.create_users)
        return {
            legacy_id: (raw, accounts[phone] if phone is not None else None)
            for legacy_id, (raw, phone) in people.items()
        }, created

    def _records(
        self, row: tuple[Any, ...], people: dict[Any, tuple[str, int | None]], sessions: GapSessions
    ) -> list[Record]:
        row_id, legacy_user, role, content, meta_message_id, created = row
        unit = f"message:{row_id}"
        if legacy_user not in people:
            return [Quarantined(unit, Reason.ORPHAN, _raw(row))]
        phone, user_id = people[legacy_user]
        if user_id is None:
            return [Quarantined(unit, Reason.INVALID_PHONE, _raw(row))]
        try:
            moment = values.parse_timestamp(created, legacy_zone=self.legacy_zone)
        except values.BadValue as bad:
            return [Quarantined(unit, bad.reason, _raw(row))]
        session = sessions.place(
            user_key=str(legacy_user), user_id=user_id, moment=moment, first_row_key=f"{phone}:{row_id}"
        )
        role_name = ROLES.get(str(role or "").strip().lower())
        if role_name is None:
            return [Quarantined(unit, Reason.UNKNOWN_ROLE, _raw(row))]
        try:
            text = values.content(content)
        except values.BadValue as bad:
            return [Quarantined(unit, bad.reason, _raw(row))]
        record = MessageRecord(
            unit=unit,
            legacy_key=f"{phone}:{row_id}",
            session=self._spec(session),
            order=session.last_order + 1,
            role=role_name,
            content=text,
            created_at=moment,
            metadata={"meta_message_id": meta_message_id} if meta_message_id else {},
            titles_session=role_name == Role.USER and not session.titled,
        )
        session.last_order += 1
        session.titled = session.titled or role_name == Role.USER
        return [record]

    def _spec(self, session: OpenSession) -> SessionSpec:
        return SessionSpec(
            source=self.kind,
            legacy_key=session.legacy_key,
            user_id=session.user_id,
            session_id=derived_uuid(self.kind, f"session:{session.legacy_key}"),
            created_at=session.created_at,
            channel=Channel.WHATSAPP,
        )


def _raw(row: tuple[Any, ...]) -> dict[str, Any]:
    names = ("id", "user_id", "role", "content", "meta_message_id", "created_at")
    return values.quarantine_row(dict(zip(names, row, strict=True)))
