"""JSON backup of changed conversations, as a scheduled job (not a second write per request).

Each run writes the sessions updated since the previous run to ``DIR/<user_id>/<session_id>.json``
and a ``manifests/<run time>.json`` with the SHA-256 of every file it wrote; ``state.json``
remembers where the next run starts. Re-running writes the same content again (idempotent; with
CHAT_ENCRYPTION=on each file is encrypted under its patient's data key, so its bytes differ).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chats import crypto, exporters, selectors


@dataclass(frozen=True)
class BackupReport:
    sessions: int
    manifest: str
    since: str | None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def backup_changed_sessions(*, directory: str) -> BackupReport:
    root = Path(directory)
    state_path = root / "state.json"
    since: datetime | None = None
    if state_path.exists():
        since = parse_datetime(json.loads(state_path.read_text())["last_run_started"])
    started = timezone.now()
    changed = selectors.sessions_updated_between(since=since, until=started)
    files = []
    for session in changed:
        data = "".join(exporters.render_session(session, "json")).encode()
        if crypto.enabled():  # at rest under the patient's key: shredding it makes the file unreadable
            data = crypto.seal_file(session.user_id, data)
        relative = f"{session.user_id}/{session.session_id}.json"
        _atomic_write(root / relative, data)
        files.append({"file": relative, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)})
    manifest = f"manifests/{started.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    since_text = since.isoformat() if since else None
    document = {"started": started.isoformat(), "since": since_text, "files": files}
    _atomic_write(root / manifest, json.dumps(document, indent=2).encode())
    _atomic_write(state_path, json.dumps({"last_run_started": started.isoformat()}).encode())
    return BackupReport(sessions=len(files), manifest=manifest, since=since_text)


def verify_manifest(*, directory: str, manifest: str) -> list[str]:
    """Files of a manifest whose content no longer matches its checksum."""
    root = Path(directory)
    listed = json.loads((root / manifest).read_text())["files"]
    return [
        entry["file"]
        for entry in listed
        if not (root / entry["file"]).exists()
        or hashlib.sha256((root / entry["file"]).read_bytes()).hexdigest() != entry["sha256"]
    ]
