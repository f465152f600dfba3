"""``--source json --path DIR``: one JSON file per conversation.

Two layouts are read: the hybrid store of reference 003 (``{conversation_id, user_id, created_at,
updated_at, context, messages: [{role, content, timestamp, agent_steps, pdf_names,
source_citations, meta_data}]}``) and Medibot's own backups (``DIR/<user_id>/<session_id>.json``
written by ``chats/backups.py``), whose ids, orders and branches (each message's ``branch``, the
session's ``active_branch`` and fork table) are kept so restoring next to live data inserts only
what is missing. Files are read in path order; the checkpoint is (file, message).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from chats import crypto
from chats.importers import values
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
from chats.importers.users import LegacyUsers, UserMap, existing_user_ids
from chats.models import Channel, MessageStatus, Role

BACKUP_BOOKKEEPING = ("state.json", "manifests", "manifest.json")


def conversation_files(root: Path, *, after: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Relative paths (as parts) of the ``*.json`` files under ``root``, in order, after ``after``.

    One directory is listed at a time, sorted, depth first: the order is the same on every run.
    """

    def walk(directory: Path, prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        with os.scandir(directory) as entries:
            names = sorted((entry.name, entry.is_dir()) for entry in entries)
        for name, is_dir in names:
            parts = (*prefix, name)
            if not prefix and name in BACKUP_BOOKKEEPING:
                continue
            if is_dir:
                if parts >= after[: len(parts)]:
                    yield from walk(directory / name, parts)
            elif name.endswith(".json") and parts >= after:
                yield parts

    yield from walk(root, ())


def directory_ref(directory: str | Path) -> str:
    """The source ref (run history and lock key) of a JSON directory."""
    return f"json://{Path(directory).resolve()}"


class JsonDirectorySource:
    kind = "json"

    def __init__(self, *, directory: Path, user_map: UserMap | None, legacy_zone: tzinfo) -> None:
        if not directory.is_dir():
            raise ValueError(f"{directory} is not a directory")
        self.directory = directory.resolve()
        self.users = LegacyUsers(user_map)
        self.legacy_zone = legacy_zone

    @property
    def ref(self) -> str:
        return directory_ref(self.directory)

    @property
    def options(self) -> dict[str, Any]:
        return {}

    def warnings(self) -> list[str]:
        return []

    def estimate(self) -> int | None:
        """Counted first: one pass over the files (the import reads each once more)."""
        total = 0
        for parts in conversation_files(self.directory, after=()):
            try:
                data = json.loads(values.text(self.directory.joinpath(*parts).read_bytes()))
            except (values.BadValue, ValueError):
                total += 1
                continue
            conversation = self._conversation(parts, data)
            total += 1 if conversation is None else len(conversation[2])
        return total

    def close(self) -> None:
        return None

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        return batched(self._units(checkpoint), batch_size=batch_size)

    def _units(self, checkpoint: dict[str, Any] | None) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        resume = tuple(checkpoint["file"]) if checkpoint else ()
        for parts in conversation_files(self.directory, after=resume):
            state = checkpoint if checkpoint and parts == resume else None
            if state is not None and state.get("done"):
                continue
            yield from self._file(parts, state)

    def _file(
        self, parts: tuple[str, ...], state: dict[str, Any] | None
    ) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        relative = "/".join(parts)
        unit = f"file:{relative}"
        done = {"file": list(parts), "done": True}
        try:
            data = json.loads(values.text(crypto.open_file(self.directory.joinpath(*parts).read_bytes())))
        except crypto.PatientKeyErased:
            yield [Quarantined(unit, Reason.ERASED, {"file": relative})], done
            return
        except values.BadValue as bad:
            yield [Quarantined(unit, bad.reason, {"file": relative})], done
            return
        except ValueError as exc:
            yield [Quarantined(unit, Reason.BAD_JSON, {"file": relative, "error": str(exc)[:200]})], done
            return
        conversation = self._conversation(parts, data)
        if conversation is None:
            yield (
                [Quarantined(unit, Reason.BAD_JSON, {"file": relative, "error": "not a conversation"})],
                done,
            )
            return
        spec, reason, messages, keep_ids = conversation
        start = int(state["next"]) if state else 0
        last_order = int(state["last_order"]) if state else 0
        titled = bool(state["titled"]) if state else False
        for index in range(start, len(messages)):
            item = messages[index]
            record = self._message(spec, reason, item, index, last_order + 1, keep_ids, relative, titled)
            if isinstance(record, MessageRecord):
                last_order = record.order
                titled = titled or record.role == Role.USER
            position = {"file": list(parts), "next": index + 1, "last_order": last_order, "titled": titled}
            yield [record], position
        if not messages and state is None:
            empty: Record = (
                SessionRecord(unit=unit, session=spec)
                if spec is not None
                else Quarantined(unit, reason or Reason.EMPTY, {"file": relative})
            )
            yield [empty], done

    def _conversation(
        self, parts: tuple[str, ...], data: Any
    ) -> tuple[SessionSpec | None, Reason | None, list[Any], bool] | None:
        """(target session or None, why not, messages, whether ids/orders are Medibot's own)."""
        if isinstance(data, dict) and isinstance(data.get("data"), dict) and "session" in data["data"]:
            return self._backup(parts, data["data"])
        if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
            return None
        conversation_id = str(data.get("conversation_id") or Path(parts[-1]).stem)
        messages = data["messages"]
        legacy_user = data.get("user_id")
        if legacy_user is None:
            return None, Reason.NULL_USER, messages, False
        user_id = self.users.resolve([str(legacy_user)]).get(str(legacy_user).strip())
        if user_id is None:
            return None, Reason.UNKNOWN_USER, messages, False
        created_at = self._moment(data.get("created_at")) or self._first_moment(messages)
        if created_at is None:
            return None, Reason.BAD_TIMESTAMP, messages, False
        key = f"conversation:{conversation_id}"
        context = data.get("context")
        spec = SessionSpec(
            source=self.kind,
            legacy_key=key,
            user_id=user_id,
            session_id=public_id_or_derived(conversation_id, source=self.kind, legacy_key=key),
            created_at=created_at,
            updated_at=self._moment(data.get("updated_at")),
            channel=Channel.IMPORT,
            metadata={"context": context} if context else {},
        )
        return spec, None, messages, False

    def _backup(
        self, parts: tuple[str, ...], data: dict[str, Any]
    ) -> tuple[SessionSpec | None, Reason | None, list[Any], bool] | None:
        session, messages = data.get("session"), data.get("messages")
        if not isinstance(session, dict) or not isinstance(messages, list) or len(parts) < 2:
            return None
        if not parts[-2].isdigit():
            # An "export all" zip unpacked: its files sit in sessions/, not in <user_id>/.
            return None, Reason.NO_OWNER, messages, True
        if not existing_user_ids([int(parts[-2])]):
            return None, Reason.UNKNOWN_USER, messages, True
        created_at = self._moment(session.get("created_at"))
        if created_at is None:
            return None, Reason.BAD_TIMESTAMP, messages, True
        session_id = str(session.get("session_id") or Path(parts[-1]).stem)
        forks = values.fork_table(session.get("branches"))
        spec = SessionSpec(
            source=self.kind,
            legacy_key=f"backup:{parts[-2]}/{session_id}",
            user_id=int(parts[-2]),
            session_id=public_id_or_derived(session_id, source=self.kind, legacy_key=f"backup:{session_id}"),
            created_at=created_at,
            title=session.get("title") or None,
            channel=str(session.get("channel"))
            if session.get("channel") in Channel.values
            else Channel.IMPORT,
            updated_at=self._moment(session.get("updated_at")),
            tags=[tag for tag in session.get("tags") or [] if isinstance(tag, str)],
            metadata=_dict(session.get("metadata")),
            branches=forks,
            active_branch=values.branch_in(session.get("active_branch"), forks),
        )
        return spec, None, messages, True

    def _moment(self, value: Any) -> datetime | None:
        try:
            return values.parse_timestamp(value, legacy_zone=self.legacy_zone)
        except values.BadValue:
            return None

    def _first_moment(self, messages: list[Any]) -> datetime | None:
        for item in messages:
            if isinstance(item, dict) and (moment := self._moment(item.get("timestamp"))):
                return moment
        return None

    def _message(
        self,
        spec: SessionSpec | None,
        reason: Reason | None,
        item: Any,
        index: int,
        order: int,
        keep_ids: bool,
        relative: str,
        titled: bool,
    ) -> Record:
        unit = f"{relative}#{index}"
        raw = item if isinstance(item, dict) else {"value": item}
        if spec is None:
            if reason is None:
                raise RuntimeError("a record without a spec must carry a quarantine reason")
            return Quarantined(unit, reason, values.quarantine_row(raw))
        if not isinstance(item, dict):
            return Quarantined(unit, Reason.BAD_JSON, values.quarantine_row(raw))
        role = str(item.get("role") or "").strip().lower()
        if role not in Role.values:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, values.quarantine_row(raw))
        try:
            moment = values.parse_timestamp(
                item.get("created_at") if keep_ids else item.get("timestamp"), legacy_zone=self.legacy_zone
            )
            content = values.content(item.get("content"))
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, values.quarantine_row(raw))
        legacy_key = f"{spec.legacy_key}:{index}"
        if keep_ids:
            return self._backup_message(spec, item, legacy_key, unit, role, content, moment, order, index)
        return MessageRecord(
            unit=unit,
            legacy_key=legacy_key,
            session=spec,
            order=order,
            role=role,
            content=content,
            created_at=moment,
            agent_steps=_list(item.get("agent_steps")),
            source_documents=_list(item.get("source_citations")),
            attachments=[{"type": "pdf", "name": str(name)} for name in _list(item.get("pdf_names"))],
            metadata=_dict(item.get("meta_data")),
            titles_session=role == Role.USER and not titled,
        )

    def _backup_message(
        self,
        spec: SessionSpec,
        item: dict[str, Any],
        legacy_key: str,
        unit: str,
        role: str,
        content: str,
        moment: datetime,
        order: int,
        index: int,
    ) -> MessageRecord:
        stored_order = item.get("order")
        return MessageRecord(
            unit=unit,
            legacy_key=legacy_key,
            session=spec,
            order=stored_order if isinstance(stored_order, int) and stored_order > 0 else order,
            # Every branch of a backup (``branch``, the session's fork table), written branch by branch.
            branch=values.branch_in(item.get("branch"), spec.branches),
            count_after=index + 1,
            role=role,
            content=content,
            created_at=moment,
            message_id=public_id_or_derived(item.get("message_id"), source=self.kind, legacy_key=legacy_key),
            status=_status(item.get("status")),
            model=str(item.get("model") or ""),
            source_documents=_list(item.get("source_documents")),
            agent_steps=_list(item.get("agent_steps")),
            attachments=_list(item.get("attachments")),
            metadata=_dict(item.get("metadata")),
            parent_message_id=str(item.get("parent_message_id") or ""),
        )


def _status(value: Any) -> str:
    return str(value) if value in MessageStatus.values else MessageStatus.COMPLETED


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
