"""Session exports (JSON, CSV, Markdown, text) and the streamed export of all of a user's chats.

A conversation with branches (edits, regenerations) is exported as it is shown: its active path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from chats import branches, selectors
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage, ChatSession

SESSION_FORMATS = ("json", "csv", "md", "txt")
ALL_FORMATS = ("json", "ndjson", "zip")


@dataclass(frozen=True)
class ExportFile:
    content_type: str
    extension: str


FILES = {
    "json": ExportFile("application/json", "json"),
    "csv": ExportFile("text/csv; charset=utf-8", "csv"),
    "md": ExportFile("text/markdown; charset=utf-8", "md"),
    "txt": ExportFile("text/plain; charset=utf-8", "txt"),
    "ndjson": ExportFile("application/x-ndjson", "ndjson"),
    "zip": ExportFile("application/zip", "zip"),
}


def check_format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidChatInput(f"format must be one of {', '.join(allowed)}.")
    return value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def session_data(session: ChatSession) -> dict[str, Any]:
    """The session's fields; an export holds the active path of a conversation with branches,
    so ``message_count`` is the number of messages exported (orders 1..n along that path)."""
    return {
        "session_id": session.session_id,
        "title": session.title,
        "session_type": session.session_type,
        "channel": session.channel,
        "tags": list(session.tags),
        "metadata": session.metadata,
        "message_count": branches.path_length(session),
        "active_branch": branches.active_of(session),
        "created_at": _iso(session.created_at),
        "updated_at": _iso(session.updated_at),
        "last_message_at": _iso(session.last_message_at),
    }


def message_data(message: ChatMessage, session: ChatSession) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "session_id": session.session_id,
        "order": message.order,
        "branch": message.branch,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "model": message.model,
        "source_documents": message.source_documents,
        "agent_steps": message.agent_steps,
        "attachments": message.attachments,
        "metadata": message.metadata,
        "parent_message_id": message.parent_message_id,
        "content_hash": message.content_hash,
        "created_at": _iso(message.created_at),
    }


def export_filename(session: ChatSession, fmt: str) -> str:
    return f"medibot-chat-{session.session_id}.{FILES[fmt].extension}"


def render_session(session: ChatSession, fmt: str) -> Iterator[str]:
    """The export of one session as text chunks (messages fetched in bounded batches)."""
    messages = selectors.iter_session_messages(session=session)
    if fmt == "json":
        yield '{"data": {"session": ' + json.dumps(session_data(session)) + ', "messages": ['
        for index, message in enumerate(messages):
            yield ("," if index else "") + json.dumps(message_data(message, session))
        yield "]}}"
    elif fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["order", "created_at", "role", "status", "model", "content", "message_id"])
        for message in messages:
            writer.writerow(
                [
                    message.order,
                    _iso(message.created_at),
                    message.role,
                    message.status,
                    message.model,
                    _csv_safe(message.content),
                    message.message_id,
                ]
            )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()
    elif fmt == "md":
        yield f"# {session.title or 'Conversation'}\n\n"
        yield f"_Session {session.session_id}, exported from Medibot. Not medical advice._\n\n"
        for message in messages:
            yield f"### {message.role.capitalize()} — {_iso(message.created_at)}\n\n{message.content}\n\n"
    else:
        yield f"{session.title or 'Conversation'}\n{'=' * max(3, len(session.title or 'Conversation'))}\n\n"
        for message in messages:
            yield f"[{_iso(message.created_at)}] {message.role}: {message.content}\n\n"


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _all_sessions(user_id: int) -> Iterator[ChatSession]:
    cursor = None
    while True:
        page = selectors.list_sessions(user_id=user_id, archived=None, cursor=cursor, limit=100)
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def ndjson_lines(user_id: int) -> Iterator[str]:
    """All of a user's sessions, one JSON document per line: a session, then its messages."""
    for session in _all_sessions(user_id):
        yield json.dumps({"type": "session", **session_data(session)}) + "\n"
        for message in selectors.iter_session_messages(session=session):
            yield json.dumps({"type": "message", **message_data(message, session)}) + "\n"


def zip_archive(user_id: int) -> IO[bytes]:
    """A zip with one JSON file per session and ``manifest.json`` holding their SHA-256 sums.

    Spooled to disk past 16 MB, so memory stays bounded whatever the history's size.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open
    manifest: dict[str, Any] = {"files": []}
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for session in _all_sessions(user_id):
            name = f"sessions/{session.session_id}.json"
            digest = hashlib.sha256()
            with archive.open(name, "w") as entry:
                for chunk in render_session(session, "json"):
                    data = chunk.encode()
                    digest.update(data)
                    entry.write(data)
            manifest["files"].append({"name": name, "sha256": digest.hexdigest()})
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    spool.seek(0)
    return spool
