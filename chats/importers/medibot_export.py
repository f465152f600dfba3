"""``--source medibot --path EXPORT``: Medibot's own exports back into a Medibot (this one or another).

Every export Medibot writes is read, and its checksums are checked *before* anything is written:

* the "export all" zip (``sessions/<session_id>.json`` + ``manifest.json`` with their SHA-256):
  a missing manifest, a file that does not match it, a listed file that is missing or a session
  file the manifest does not list refuses the whole import;
* the all-sessions NDJSON (a ``session`` line, then its ``message`` lines);
* one session's JSON export (``{"data": {"session": ..., "messages": [...]}}``);
* the nightly backup directory (``<user_id>/<session_id>.json`` + ``manifests/*.json``): each file
  must match the newest manifest that lists it.

Single-user exports (zip, NDJSON, JSON) go to ``--user NAME``; a backup goes to the account of
each ``<user_id>/`` folder, or through ``--user-map`` (``old_user_id,username-or-id``), or all to
``--user``. Session ids, message ids, orders, branches (each message's ``branch``, the session's
``active_branch`` and fork table), titles, tags, metadata, citations, attachments,
votes and token usage are kept, so importing the same export twice (or next to the live data it
came from) inserts only what is missing.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

from chats.checksums import sha256_file, sha256_stream
from chats.importers import values
from chats.importers.json_files import conversation_files
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

ZIP_MANIFEST = "manifest.json"
ZIP_SESSIONS = "sessions/"
BACKUP_MANIFESTS = "manifests"


class ManifestMismatch(ValueError):
    """The export's checksums do not hold: nothing is imported."""


class UnknownAccount(ValueError):
    pass


def verify_zip(path: Path) -> list[str]:
    """The session files of an "export all" zip, in order, once every checksum holds."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if ZIP_MANIFEST not in names:
            raise ManifestMismatch(
                f"{path.name}: no {ZIP_MANIFEST}; not a Medibot export, or an incomplete one"
            )
        try:
            listed = {
                entry["name"]: entry["sha256"] for entry in json.loads(archive.read(ZIP_MANIFEST))["files"]
            }
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestMismatch(f"{path.name}: {ZIP_MANIFEST} is not readable ({exc})") from exc
        sessions = sorted(name for name in names if name.startswith(ZIP_SESSIONS) and not name.endswith("/"))
        for name in sessions:
            if name not in listed:
                raise ManifestMismatch(f"{name} is not listed in {ZIP_MANIFEST}: the export was changed")
        for name, expected in sorted(listed.items()):
            if name not in names:
                raise ManifestMismatch(f"{name} is listed in {ZIP_MANIFEST} but missing from the zip")
            with archive.open(name) as member:
                actual = sha256_stream(member)
            if actual != expected:
                raise ManifestMismatch(
                    f"{name} does not match its SHA-256 in {ZIP_MANIFEST}: the export was changed"
                )
    return sessions


def verify_backup(root: Path) -> None:
    """Every backup file against the newest manifest that lists it (older runs wrote older bytes)."""
    expected: dict[str, str] = {}
    manifests = sorted((root / BACKUP_MANIFESTS).glob("*.json")) if (root / BACKUP_MANIFESTS).is_dir() else []
    if not manifests:
        raise ManifestMismatch(f"{root}: no {BACKUP_MANIFESTS}/*.json; not a Medibot backup directory")
    for manifest in manifests:
        try:
            for entry in json.loads(manifest.read_text())["files"]:
                expected[entry["file"]] = entry["sha256"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestMismatch(f"{manifest.name} is not readable ({exc})") from exc
    for parts in conversation_files(root):
        relative = "/".join(parts)
        if relative not in expected:
            raise ManifestMismatch(f"{relative} is not listed in any backup manifest")
        if sha256_file(root.joinpath(*parts)) != expected[relative]:
            raise ManifestMismatch(f"{relative} does not match its SHA-256 in the backup manifests")


def _layout(path: Path) -> str:
    if path.is_dir():
        return "backup"
    if not path.is_file():
        raise ValueError(f"{path} is neither a file nor a directory")
    if zipfile.is_zipfile(path):
        return "zip"
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        return "ndjson"
    return "json"


class MedibotExportSource:
    kind = "medibot"

    def __init__(
        self, *, path: Path, username: str | None, user_map: UserMap | None, legacy_zone: Any = None
    ) -> None:
        self.path = path.resolve()
        self.layout = _layout(self.path)
        self.username = username or ""
        self.users = LegacyUsers(user_map)
        self.user_id: int | None = None
        if username:
            found = get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()
            if found is None:
                raise UnknownAccount(f"no account with the username {username!r}")
            self.user_id = int(found)
        elif self.layout != "backup":
            raise ValueError(
                f"--source medibot with a {self.layout} export needs --user USERNAME "
                "(the account that receives it)"
            )
        # Checked here, before the runner takes a lock or writes a checkpoint: a damaged export
        # imports nothing at all.
        self.sessions = verify_zip(self.path) if self.layout == "zip" else []
        if self.layout == "backup":
            verify_backup(self.path)

    @property
    def ref(self) -> str:
        return f"medibot://{self.path}#{self.username}"

    @property
    def options(self) -> dict[str, Any]:
        return {"user": self.username, "user_map": dict(sorted(self.users.user_map.accounts.items()))}

    def warnings(self) -> list[str]:
        return []

    def close(self) -> None:
        return None

    def estimate(self) -> int | None:
        if self.layout == "ndjson":
            with self.path.open("rb") as lines:
                return sum(1 for line in lines if line.strip()) or None
        total = 0
        for _name, data in self._documents(None):
            total += max(len(_messages(data)), 1)
        return total

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        units = self._ndjson(checkpoint) if self.layout == "ndjson" else self._files(checkpoint)
        return batched(units, batch_size=batch_size)

    # --- reading ---------------------------------------------------------------------------------

    def _documents(self, after: str | None) -> Iterator[tuple[str, Any]]:
        """(name, parsed JSON or the parse error) of each session file after ``after``, in order."""
        if self.layout == "json":
            if after is None:
                yield self.path.name, _parse(self.path.read_bytes())
        elif self.layout == "zip":
            with zipfile.ZipFile(self.path) as archive:
                for name in self.sessions:
                    if after is None or name > after:
                        yield name, _parse(archive.read(name))
        else:
            resume = tuple(after.split("/")) if after else ()
            for parts in conversation_files(self.path, after=resume):
                if parts != resume:
                    yield "/".join(parts), _parse(self.path.joinpath(*parts).read_bytes())

    def _files(self, checkpoint: dict[str, Any] | None) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        if checkpoint and checkpoint.get("next"):
            # Resume inside a file: read it again from its next message.
            current = str(checkpoint["file"])
            yield from self._file(current, self._reread(current), int(checkpoint["next"]))
        after = str(checkpoint["file"]) if checkpoint else None
        for name, data in self._documents(after):
            yield from self._file(name, data, 0)

    def _reread(self, name: str) -> Any:
        if self.layout == "zip":
            with zipfile.ZipFile(self.path) as archive:
                return _parse(archive.read(name))
        if self.layout == "json":
            return _parse(self.path.read_bytes())
        return _parse(self.path.joinpath(*name.split("/")).read_bytes())

    def _file(self, name: str, data: Any, start: int) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        unit = f"file:{name}"
        done = {"file": name, "next": 0}
        if isinstance(data, ValueError):
            yield [Quarantined(unit, Reason.BAD_JSON, {"file": name, "error": str(data)[:200]})], done
            return
        session = data.get("data", {}).get("session") if isinstance(data, dict) else None
        messages = _messages(data)
        if not isinstance(session, dict) or not isinstance((data.get("data") or {}).get("messages"), list):
            yield (
                [Quarantined(unit, Reason.BAD_JSON, {"file": name, "error": "not a Medibot session export"})],
                done,
            )
            return
        owner = self._owner(name)
        spec, reason = self._spec(session, owner, name)
        if spec is None and not messages:
            yield [Quarantined(unit, reason or Reason.BAD_JSON, {"file": name})], done
            return
        for index in range(start, len(messages)):
            record = self._message(spec, reason, messages[index], index, f"{name}#{index}")
            position = {"file": name, "next": index + 1} if index + 1 < len(messages) else done
            yield [record], position
        if not messages and spec is not None:
            yield [SessionRecord(unit=unit, session=spec)], done

    def _ndjson(self, checkpoint: dict[str, Any] | None) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        resume = int(checkpoint["line"]) if checkpoint else 0
        spec: SessionSpec | None = None
        reason: Reason | None = Reason.ORPHAN
        index = 0
        with self.path.open("rb") as lines:
            for number, raw in enumerate(lines, start=1):
                if not raw.strip():
                    continue
                unit = f"{self.path.name}:{number}"
                line = _parse(raw)
                kind = line.get("type") if isinstance(line, dict) else None
                if kind == "session":
                    spec, reason = self._spec(line, self.user_id, unit)
                    index = 0
                    if number > resume:
                        record: Record = (
                            SessionRecord(unit=unit, session=spec)
                            if spec is not None
                            else Quarantined(unit, reason or Reason.BAD_JSON, {"line": number})
                        )
                        yield [record], {"line": number}
                    continue
                index += 1
                if number <= resume:
                    continue
                if kind != "message":
                    error = (
                        str(line)[:200] if isinstance(line, ValueError) else "neither a session nor a message"
                    )
                    yield (
                        [Quarantined(unit, Reason.BAD_JSON, {"line": number, "error": error})],
                        {"line": number},
                    )
                    continue
                yield [self._message(spec, reason, line, index - 1, unit)], {"line": number}

    # --- turning a session export into records ---------------------------------------------------

    def _owner(self, name: str) -> int | None:
        if self.user_id is not None:
            return self.user_id
        folder = name.split("/")[0] if "/" in name else ""
        if not folder:
            return None
        return self.users.resolve([folder]).get(folder)

    def _spec(
        self, session: dict[str, Any], owner: int | None, where: str
    ) -> tuple[SessionSpec | None, Reason | None]:
        if owner is None:
            return None, Reason.UNKNOWN_USER
        created_at = _moment(session.get("created_at"))
        if created_at is None:
            return None, Reason.BAD_TIMESTAMP
        session_id = str(session.get("session_id") or "")
        legacy_key = f"session:{session_id or where}"
        forks = values.fork_table(session.get("branches"))
        active = session.get("active_branch")
        spec = SessionSpec(
            source=self.kind,
            legacy_key=legacy_key,
            user_id=owner,
            session_id=public_id_or_derived(session_id, source=self.kind, legacy_key=legacy_key),
            created_at=created_at,
            title=session.get("title") or None,
            channel=str(session["channel"]) if session.get("channel") in Channel.values else Channel.IMPORT,
            updated_at=_moment(session.get("updated_at")),
            tags=[tag for tag in session.get("tags") or [] if isinstance(tag, str)],
            metadata=dict(session["metadata"]) if isinstance(session.get("metadata"), dict) else {},
            keep_title=True,
            branches=forks,
            active_branch=values.branch_in(active, forks),
        )
        return spec, None

    def _message(
        self, spec: SessionSpec | None, reason: Reason | None, item: Any, index: int, unit: str
    ) -> Record:
        raw = item if isinstance(item, dict) else {"value": item}
        if spec is None:
            return Quarantined(unit, reason or Reason.ORPHAN, values.quarantine_row(raw))
        if not isinstance(item, dict):
            return Quarantined(unit, Reason.BAD_JSON, values.quarantine_row(raw))
        role = str(item.get("role") or "")
        if role not in Role.values:
            return Quarantined(unit, Reason.UNKNOWN_ROLE, values.quarantine_row(raw))
        try:
            moment = values.parse_timestamp(item.get("created_at"))
            content = values.content(item.get("content"))
        except values.BadValue as bad:
            return Quarantined(unit, bad.reason, values.quarantine_row(raw))
        order = item.get("order")
        branch = item.get("branch")
        legacy_key = f"{spec.legacy_key}:{item.get('message_id') or index}"
        return MessageRecord(
            unit=unit,
            legacy_key=legacy_key,
            session=spec,
            order=order if isinstance(order, int) and order > 0 else index + 1,
            # An export written before branches holds the active path as orders 1..n: branch 0.
            branch=values.branch_in(branch, spec.branches),
            count_after=index + 1,
            role=role,
            content=content,
            created_at=moment,
            message_id=public_id_or_derived(item.get("message_id"), source=self.kind, legacy_key=legacy_key),
            status=str(item["status"])
            if item.get("status") in MessageStatus.values
            else MessageStatus.COMPLETED,
            model=str(item.get("model") or ""),
            source_documents=_list(item.get("source_documents")),
            agent_steps=_list(item.get("agent_steps")),
            attachments=_list(item.get("attachments")),
            error_info=item["error_info"] if isinstance(item.get("error_info"), dict) else {},
            metadata=item["metadata"] if isinstance(item.get("metadata"), dict) else {},
            parent_message_id=str(item.get("parent_message_id") or ""),
            vote=item["vote"] if isinstance(item.get("vote"), dict) else None,
            usage=item["usage"] if isinstance(item.get("usage"), dict) else None,
        )


def _parse(data: bytes) -> Any:
    try:
        return json.loads(values.text(data))
    except values.BadValue as bad:
        return ValueError(bad.reason.value)
    except ValueError as exc:
        return exc


def _messages(data: Any) -> list[Any]:
    if isinstance(data, dict) and isinstance(data.get("data"), dict):
        messages = data["data"].get("messages")
        return messages if isinstance(messages, list) else []
    return []


def _moment(value: Any) -> datetime | None:
    try:
        return values.parse_timestamp(value)
    except values.BadValue:
        return None


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
