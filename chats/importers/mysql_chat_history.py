"""``--source mysql``: the legacy Medibot table ``chat_history`` (reference 000).

``chat_history(id, user_id, message, response, timestamp)``: each row is a user message and the
bot's response, with no conversation id. A user's rows, read in (timestamp, id) order, form one
session until a silence longer than ``--gap-minutes``. Rows without a user or a time cannot be
placed in a conversation: a first pass (keyset on ``id``) quarantines them, the second pass reads
keyset on ``(user_id, timestamp, id)`` — the index ``(user_id, timestamp)`` makes each batch a
range scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta, tzinfo
from typing import Any

from chats.importers import values
from chats.importers.mysql_connection import MySQLReads, MySQLSource, has_index_starting_with
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
from chats.importers.users import existing_user_ids
from chats.models import Channel, Role

COLUMNS = "id, user_id, CAST(`timestamp` AS CHAR), message, response"
UNPLACEABLE = (
    f"SELECT {COLUMNS} FROM chat_history WHERE (user_id IS NULL OR `timestamp` IS NULL) AND id > %s "  # noqa: S608  # nosec B608 - module constants only; values are bound
    "ORDER BY id LIMIT %s"
)
PLACEABLE = f"SELECT {COLUMNS} FROM chat_history WHERE user_id IS NOT NULL AND `timestamp` IS NOT NULL"  # noqa: S608  # nosec B608 - module constants only; values are bound
AFTER = " AND (user_id > %s OR (user_id = %s AND (`timestamp` > %s OR (`timestamp` = %s AND id > %s))))"
ORDER = " ORDER BY user_id, `timestamp`, id LIMIT %s"


class ChatHistorySource(MySQLReads):
    kind = "mysql"

    def __init__(self, *, database: MySQLSource, gap: timedelta, legacy_zone: tzinfo, zone_name: str) -> None:
        self.database = database
        self.gap = gap
        self.legacy_zone = legacy_zone
        self.zone_name = zone_name
        self.connection = database.connect()

    @property
    def ref(self) -> str:
        return f"{self.database.ref}/chat_history"

    @property
    def options(self) -> dict[str, Any]:
        return {"gap_minutes": int(self.gap.total_seconds() // 60), "timezone": self.zone_name}

    def warnings(self) -> list[str]:
        with self.connection.cursor() as cursor:
            if has_index_starting_with(cursor, "chat_history", ["user_id", "timestamp"]):
                return []
        return [
            "chat_history has no index on (user_id, timestamp): every batch sorts the table. Add one "
            "first: ALTER TABLE chat_history ADD INDEX idx_user_timestamp (user_id, timestamp);"
        ]

    def estimate(self) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM chat_history")
            return int(cursor.fetchone()[0])

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        state = checkpoint or {"phase": "unplaceable", "after_id": 0}
        if state["phase"] == "unplaceable":
            after_id = int(state["after_id"])
            while rows := self._fetch(UNPLACEABLE, (after_id, batch_size)):
                after_id = int(rows[-1][0])
                records: list[Record] = [
                    Quarantined(
                        unit=f"chat_history:{row[0]}",
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
                rows = self._fetch(PLACEABLE + ORDER, (batch_size,))
            else:
                user_id, moment, row_id = after
                rows = self._fetch(
                    PLACEABLE + AFTER + ORDER, (user_id, user_id, moment, moment, row_id, batch_size)
                )
            if not rows:
                return
            known = existing_user_ids(int(row[1]) for row in rows)
            records = []
            for row in rows:
                records.extend(self._records(row, known, sessions))
            last = rows[-1]
            after = [int(last[1]), last[2].decode("ascii"), int(last[0])]
            yield Batch(records, {"phase": "rows", "after": after, "open": sessions.state()})

    def _records(self, row: tuple[Any, ...], known: set[int], sessions: GapSessions) -> list[Record]:
        row_id, user_id, raw_moment, message, response = row
        unit = f"chat_history:{row_id}"
        try:
            moment = values.parse_timestamp(raw_moment, legacy_zone=self.legacy_zone)
        except values.BadValue as bad:
            return [Quarantined(unit=unit, reason=bad.reason, row=_raw(row))]
        if int(user_id) not in known:
            return [Quarantined(unit=unit, reason=Reason.UNKNOWN_USER, row=_raw(row))]
        session = sessions.place(
            user_key=str(user_id), user_id=int(user_id), moment=moment, first_row_key=unit
        )
        try:
            question = values.content(message)
            answer = values.text(response)
            if answer.strip():
                values.content(answer)
        except values.BadValue as bad:
            return [Quarantined(unit=unit, reason=bad.reason, row=_raw(row))]
        spec = self._spec(session)
        records: list[Record] = [
            MessageRecord(
                unit=unit,
                legacy_key=f"{unit}:user",
                session=spec,
                order=session.last_order + 1,
                role=Role.USER,
                content=question,
                created_at=moment,
                titles_session=not session.titled,
            )
        ]
        session.titled = True
        session.last_order += 1
        if answer.strip():
            records.append(
                MessageRecord(
                    unit=unit,
                    legacy_key=f"{unit}:assistant",
                    session=spec,
                    order=session.last_order + 1,
                    role=Role.ASSISTANT,
                    content=answer,
                    created_at=moment,
                )
            )
            session.last_order += 1
        return records

    def _spec(self, session: OpenSession) -> SessionSpec:
        return SessionSpec(
            source=self.kind,
            legacy_key=session.legacy_key,
            user_id=session.user_id,
            session_id=derived_uuid(self.kind, f"session:{session.legacy_key}"),
            created_at=session.created_at,
            channel=Channel.IMPORT,
        )


def _raw(row: tuple[Any, ...]) -> dict[str, Any]:
    row_id, user_id, moment, message, response = row
    return values.quarantine_row(
        {"id": row_id, "user_id": user_id, "timestamp": moment, "message": message, "response": response}
    )
