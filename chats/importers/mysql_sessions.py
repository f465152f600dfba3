"""``--source mysql-sessions``: the session tables of reference 001.

``chat_sessions`` (with ``chat_metadata`` when present) is read keyset on ``id``; each session is
followed by its ``chat_messages``, keyset on ``id`` within the session (the foreign-key index on
``session_id`` makes that a range), so a conversation arrives whole and in the order it was written.
A last pass (keyset on ``chat_messages.id``) quarantines messages whose session does not exist.
Legacy ``user_id`` strings are account ids, or are mapped through ``--user-map``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import tzinfo
from typing import Any

from chats.exceptions import InvalidChatInput
from chats.importers import values
from chats.importers.mysql_connection import MySQLReads, MySQLSource, has_index_starting_with, table_exists
from chats.importers.records import (
    Batch,
    MessageRecord,
    Quarantined,
    Reason,
    Record,
    SessionRecord,
    SessionSpec,
    batched,
    public_id_or_derived,
)
from chats.importers.users import LegacyUsers, UserMap
from chats.models import Channel, MessageStatus, Role
from chats.services import validate_tags

SESSION_COLUMNS = (
    "s.id, s.session_id, s.title, s.user_id, CAST(s.created_at AS CHAR), CAST(s.updated_at AS CHAR), "
    "s.is_active, s.metadata"
)
METADATA_COLUMNS = ", md.total_tokens, md.model_used, md.language, md.tags"
MESSAGE_COLUMNS = (
    "m.id, m.message_id, m.role, m.content, m.message_type, CAST(m.`timestamp` AS CHAR), "
    "m.source_documents, m.error_info, m.metadata, m.session_id"
)
MESSAGES_OF_SESSION = (
    f"SELECT {MESSAGE_COLUMNS} FROM chat_messages m WHERE m.session_id = %s AND m.id > %s "  # noqa: S608  # nosec B608 - module constants only; values are bound
    "ORDER BY m.id LIMIT %s"
)
ORPHANS = (
    f"SELECT {MESSAGE_COLUMNS} FROM chat_messages m "  # noqa: S608  # nosec B608 - module constants only; values are bound
    "LEFT JOIN chat_sessions s ON s.session_id = m.session_id "
    "WHERE s.id IS NULL AND m.id > %s ORDER BY m.id LIMIT %s"
)
ROLES = {
    "user": Role.USER,
    "human": Role.USER,
    "assistant": Role.ASSISTANT,
    "bot": Role.ASSISTANT,
    "ai": Role.ASSISTANT,
    "system": Role.SYSTEM,
    "tool": Role.TOOL,
}


def _json(value: Any, *, empty: Any) -> Any:
    """A JSON column's value; text that is not JSON is kept as text."""
    if value is None:
        return empty
    raw = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"legacy_text": raw} if isinstance(empty, dict) else [raw]
    if parsed is None:
        return empty
    if isinstance(empty, dict) and not isinstance(parsed, dict):
        return {"legacy_value": parsed}
    if isinstance(empty, list) and not isinstance(parsed, list):
        return [parsed]
    return parsed


def _str(value: Any) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _SessionState:
    """A session being read: its target (or why it is quarantined) and its messages so far."""

    def __init__(
        self, *, row_id: int, legacy_id: str, spec: SessionSpec | None, reason: Reason | None, model: str
    ) -> None:
        self.row_id = row_id
        self.legacy_id = legacy_id
        self.spec = spec
        self.reason = reason
        self.model = model
        self.last_order = 0
        self.titled = False


class SessionTablesSource(MySQLReads):
    kind = "mysql-sessions"

    def __init__(
        self, *, database: MySQLSource, user_map: UserMap | None, legacy_zone: tzinfo, zone_name: str
    ) -> None:
        self.database = database
        self.users = LegacyUsers(user_map)
        self.legacy_zone = legacy_zone
        self.zone_name = zone_name
        self.connection = database.connect()
        with self.connection.cursor() as cursor:
            self.with_metadata = table_exists(cursor, "chat_metadata")
        join = " LEFT JOIN chat_metadata md ON md.session_id = s.session_id" if self.with_metadata else ""
        columns = SESSION_COLUMNS + (METADATA_COLUMNS if self.with_metadata else "")
        self.sessions_sql = (
            f"SELECT {columns} FROM chat_sessions s{join} WHERE s.id >= %s ORDER BY s.id LIMIT %s"  # noqa: S608  # nosec B608 - module constants only; values are bound
        )

    @property
    def ref(self) -> str:
        return f"{self.database.ref}/chat_sessions"

    @property
    def options(self) -> dict[str, Any]:
        return {"timezone": self.zone_name}

    def warnings(self) -> list[str]:
        with self.connection.cursor() as cursor:
            if has_index_starting_with(cursor, "chat_messages", ["session_id"]):
                return []
        return [
            "chat_messages has no index on session_id: every session reads the whole table. Add one "
            "first: ALTER TABLE chat_messages ADD INDEX idx_session (session_id);"
        ]

    def estimate(self) -> int | None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM chat_sessions) + (SELECT COUNT(*) FROM chat_messages)"
            )
            return int(cursor.fetchone()[0])

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        return batched(self._units(checkpoint, batch_size), batch_size=batch_size)

    def _units(
        self, checkpoint: dict[str, Any] | None, batch_size: int
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        state = checkpoint or {"phase": "sessions", "session_row": 0, "after_message": None}
        if state["phase"] == "sessions":
            yield from self._sessions(state, batch_size)
            state = {"phase": "orphans", "after_message": 0}
        after = int(state["after_message"])
        while rows := self._fetch(ORPHANS, (after, batch_size)):
            for row in rows:
                after = int(row[0])
                unit = f"chat_messages:{row[0]}"
                yield (
                    [Quarantined(unit, Reason.ORPHAN, _message_raw(row))],
                    {
                        "phase": "orphans",
                        "after_message": after,
                    },
                )

    def _sessions(
        self, state: dict[str, Any], batch_size: int
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        """Each session (``after_message=None``: its row not yet emitted), then its messages."""
        resume_row = int(state["session_row"])
        resume_after = state["after_message"]
        next_row = resume_row
        while rows := self._fetch(self.sessions_sql, (next_row, batch_size)):
            users = self.users.resolve(_str(row[3]) for row in rows if row[3] is not None)
            for row in rows:
                session = self._session(row, users)
                after_message = 0
                if session.row_id == resume_row and resume_after is not None:
                    after_message = int(resume_after)
                    session.last_order = int(state.get("last_order", 0))
                    session.titled = bool(state.get("titled", False))
                else:
                    yield [self._session_record(session, row)], self._position(session, 0)
                yield from self._messages(session, after_message, batch_size)
            next_row = int(rows[-1][0]) + 1

    def _position(self, session: _SessionState, after_message: int) -> dict[str, Any]:
        return {
            "phase": "sessions",
            "session_row": session.row_id,
            "after_message": after_message,
            "last_order": session.last_order,
            "titled": session.titled,
        }

    def _session(self, row: tuple[Any, ...], users: dict[str, int | None]) -> _SessionState:
        row_id, legacy_id_raw, title, legacy_user, created, updated, is_active, metadata = row[:8]
        legacy_id = _str(legacy_id_raw) or f"row:{row_id}"
        extra = row[8:] if self.with_metadata else (None, None, None, None)
        total_tokens, model_used, language, tags_raw = extra
        if legacy_user is None:
            return _SessionState(
                row_id=row_id, legacy_id=legacy_id, spec=None, reason=Reason.NULL_USER, model=""
            )
        user_id = users.get(_str(legacy_user).strip())
        if user_id is None:
            return _SessionState(
                row_id=row_id, legacy_id=legacy_id, spec=None, reason=Reason.UNKNOWN_USER, model=""
            )
        try:
            created_at = values.parse_timestamp(created, legacy_zone=self.legacy_zone)
            title_text = values.text(title).strip()
        except values.BadValue as bad:
            return _SessionState(row_id=row_id, legacy_id=legacy_id, spec=None, reason=bad.reason, model="")
        try:
            updated_at = values.parse_timestamp(updated, legacy_zone=self.legacy_zone) if updated else None
        except values.BadValue:
            updated_at = None
        session_metadata = _json(metadata, empty={})
        tags: list[str] = []
        if self.with_metadata:
            legacy_tags = _json(tags_raw, empty=[])
            details: dict[str, Any] = {
                "total_tokens": int(total_tokens or 0),
                "model_used": _str(model_used),
                "language": _str(language),
            }
            try:
                tags = validate_tags([str(tag) for tag in legacy_tags])
            except InvalidChatInput:
                details["tags"] = legacy_tags
            session_metadata = {**session_metadata, "chat_metadata": details}
        key = f"chat_sessions:{legacy_id}"
        spec = SessionSpec(
            source=self.kind,
            legacy_key=key,
            user_id=user_id,
            session_id=public_id_or_derived(legacy_id, source=self.kind, legacy_key=key),
            created_at=created_at,
            title=title_text or None,
            channel=Channel.IMPORT,
            updated_at=updated_at,
            is_active=bool(is_active) if is_active is not None else True,
            tags=tags,
            metadata=session_metadata,
        )
        return _SessionState(
            row_id=row_id, legacy_id=legacy_id, spec=spec, reason=None, model=_str(model_used)
        )

    def _session_record(self, session: _SessionState, row: tuple[Any, ...]) -> Record:
        unit = f"chat_sessions:{session.row_id}"
        if session.spec is None:
            if session.reason is None:
                raise RuntimeError("a session without a spec must carry a quarantine reason")
            raw = dict(
                zip(("id", "session_id", "title", "user_id", "created_at", "updated_at"), row, strict=False)
            )
            return Quarantined(unit, session.reason, values.quarantine_row(raw))
        return SessionRecord(unit=unit, session=session.spec)

    def _messages(
        self, session: _SessionState, after_message: int, batch_size: int
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        after = after_message
        while rows := self._fetch(MESSAGES_OF_SESSION, (session.legacy_id, after, batch_size)):
            for row in rows:
                after = int(row[0])
                yield [self._message(session, row)], self._position(session, after)
            if len(rows) < batch_size:
                return

    def _message(self, session: _SessionState, row: tuple[Any, ...]) -> Record:
        row_id, message_id, role, content, message_type, moment, documents, error_info, metadata, _sid = row
        unit = f"chat_messages:{row_id}"
        if session.spec is None:
            if session.reason is None:
                raise RuntimeError("a session without a spec must carry a quarantine reason")
            return Quarantined(unit, session.reason, _message_raw(row))
        role_name = ROLES.get(_str(role).strip().lower())
        if role_name is None:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, _message_raw(row))
        try:
            created_at = values.parse_timestamp(moment, legacy_zone=self.legacy_zone)
            text = values.content(content)
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, _message_raw(row))
        failed = _str(message_type).strip().lower() == "error"
        record = MessageRecord(
            unit=unit,
            legacy_key=unit,
            session=session.spec,
            order=session.last_order + 1,
            role=role_name,
            content=text,
            created_at=created_at,
            message_id=public_id_or_derived(_str(message_id), source=self.kind, legacy_key=unit),
            status=MessageStatus.FAILED if failed else MessageStatus.COMPLETED,
            model=session.model if role_name == Role.ASSISTANT else "",
            source_documents=_json(documents, empty=[]),
            error_info=_json(error_info, empty={}),
            metadata={**_json(metadata, empty={}), "message_type": _str(message_type)},
            titles_session=role_name == Role.USER and not session.titled,
        )
        session.last_order += 1
        session.titled = session.titled or role_name == Role.USER
        return record


def _message_raw(row: tuple[Any, ...]) -> dict[str, Any]:
    names = (
        "id",
        "message_id",
        "role",
        "content",
        "message_type",
        "timestamp",
        "source_documents",
        "error_info",
        "metadata",
        "session_id",
    )
    return values.quarantine_row(dict(zip(names, row, strict=True)))
