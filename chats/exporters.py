"""Session exports (JSON, CSV, Markdown, text) and the streamed export of all of a user's chats.

A conversation with branches (edits, regenerations): the re-importable exports (JSON, NDJSON, the
"export all" zip, the nightly backup) hold every message of every branch with its ``branch`` and
the session's ``active_branch`` and fork table ``branches``; Open WebUI's format is a tree, so it
holds every branch too, ``currentId`` on the active leaf. The formats people read (Markdown, PDF,
CSV, text) hold the conversation as it is shown: its active path.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from chats import branches, selectors
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage

SESSION_FORMATS = ("json", "csv", "md", "txt", "pdf", "openwebui")
ALL_FORMATS = ("json", "ndjson", "zip", "openwebui")
# What the "export all" zip may add next to its re-importable ``sessions/*.json`` (``include=md,pdf``).
ZIP_EXTRAS = ("md", "pdf")


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
    "pdf": ExportFile("application/pdf", "pdf"),
    "openwebui": ExportFile("application/json", "openwebui.json"),
}


def check_format(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidChatInput(f"format must be one of {', '.join(allowed)}.")
    return value


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def session_data(session: ChatSession) -> dict[str, Any]:
    """The session's fields as the re-importable exports write them: ``message_count`` counts the
    messages of every branch, ``branches`` is the fork table (see ``chats.branches``)."""
    return {
        "session_id": session.session_id,
        "title": session.title,
        "session_type": session.session_type,
        "channel": session.channel,
        "tags": list(session.tags),
        "metadata": session.metadata,
        "message_count": session.message_count,
        "active_branch": branches.active_of(session),
        "branches": [dict(entry) for entry in session.branches or []],
        "created_at": _iso(session.created_at),
        "updated_at": _iso(session.updated_at),
        "last_message_at": _iso(session.last_message_at),
    }


@dataclass(frozen=True)
class SessionExtras:
    """The owner's votes and the token usage of one session, by message pk (read once per session)."""

    votes: dict[Any, MessageVote]
    usage: dict[Any, TokenUsage]

    @classmethod
    def of(cls, session: ChatSession) -> SessionExtras:
        return cls(
            votes=selectors.session_votes(session=session),
            usage=selectors.session_token_usage(session=session),
        )


def vote_data(vote: MessageVote | None) -> dict[str, Any] | None:
    if vote is None:
        return None
    return {
        "vote_type": vote.vote_type,
        "reason": vote.reason,
        "created_at": _iso(vote.created_at),
        "updated_at": _iso(vote.updated_at),
    }


def usage_data(usage: TokenUsage | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    return {
        "model": usage.model,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cost": str(usage.cost),
        "created_at": _iso(usage.created_at),
    }


def message_data(
    message: ChatMessage, session: ChatSession, extras: SessionExtras | None = None
) -> dict[str, Any]:
    """A message as every re-importable export writes it (``--source medibot`` reads it back)."""
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
        "error_info": message.error_info,
        "metadata": message.metadata,
        "parent_message_id": message.parent_message_id,
        "content_hash": message.content_hash,
        "created_at": _iso(message.created_at),
        "vote": vote_data(extras.votes.get(message.pk)) if extras else None,
        "usage": usage_data(extras.usage.get(message.pk)) if extras else None,
    }


def export_filename(session: ChatSession, fmt: str) -> str:
    return f"medibot-chat-{session.session_id}.{FILES[fmt].extension}"


def render_session(session: ChatSession, fmt: str) -> Iterator[str]:
    """The export of one session as text chunks (messages fetched in bounded batches)."""
    messages = selectors.iter_session_messages(session=session)
    if fmt == "json":
        extras = SessionExtras.of(session)
        yield '{"data": {"session": ' + json.dumps(session_data(session)) + ', "messages": ['
        for index, message in enumerate(selectors.iter_every_message(session=session)):
            yield ("," if index else "") + json.dumps(message_data(message, session, extras))
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
        yield from clinician_markdown(session, messages)
    elif fmt == "openwebui":
        chat = open_webui_chat(session, selectors.iter_every_message(session=session))
        yield "[" + json.dumps(chat, ensure_ascii=False) + "]"
    elif fmt == "pdf":
        raise InvalidChatInput("pdf is binary: use render_session_bytes.")
    else:
        yield f"{session.title or 'Conversation'}\n{'=' * max(3, len(session.title or 'Conversation'))}\n\n"
        for message in messages:
            yield f"[{_iso(message.created_at)}] {message.role}: {message.content}\n\n"


def render_session_bytes(session: ChatSession, fmt: str) -> Iterator[bytes]:
    """``render_session`` as bytes, the PDF included (built whole: a PDF has its index at the end)."""
    if fmt == "pdf":
        # Imported here: ReportLab loads only when someone asks for a PDF.
        from chats.pdf_export import session_pdf

        yield session_pdf(session=session, messages=selectors.iter_session_messages(session=session))
        return
    for chunk in render_session(session, fmt):
        yield chunk.encode()


ROLE_NAMES = {"user": "Patient", "assistant": "Medibot", "system": "System", "tool": "Tool"}


def citation_lines(message: ChatMessage) -> list[str]:
    """The sources of a reply, one readable line each (title, page, link when present)."""
    lines = []
    for source in message.source_documents or []:
        if not isinstance(source, dict):
            lines.append(str(source))
            continue
        name = (
            source.get("title") or source.get("name") or source.get("pdf") or source.get("source") or "source"
        )
        parts = [str(name)]
        if source.get("page") not in (None, ""):
            parts.append(f"p. {source['page']}")
        if source.get("url"):
            parts.append(str(source["url"]))
        lines.append(", ".join(parts))
    return lines


def clinician_markdown(session: ChatSession, messages: Iterable[ChatMessage]) -> Iterator[str]:
    """A conversation to hand to a clinician: title, dates, who said what and when, sources."""
    yield f"# {session.title or 'Conversation'}\n\n"
    yield (
        f"- Started: {_iso(session.created_at)}\n- Last message: {_iso(session.last_message_at)}\n"
        f"- Messages: {branches.path_length(session)}\n- Session: {session.session_id}\n\n"
    )
    yield "_Exported from Medibot. Not medical advice._\n\n"
    for message in messages:
        role = ROLE_NAMES.get(message.role, message.role.capitalize())
        model = f" ({message.model})" if message.model else ""
        yield f"### {role}{model} — {_iso(message.created_at)}\n\n{message.content}\n\n"
        for attachment in message.attachments or []:
            if isinstance(attachment, dict) and attachment.get("name"):
                yield f"- Attachment: {attachment['name']}\n"
        citations = citation_lines(message)
        if citations:
            yield "\n**Sources**\n\n" + "".join(f"{n}. {line}\n" for n, line in enumerate(citations, 1))
        yield "\n"


def _epoch(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0


def _holder(table: dict[int, branches.Branch], branch: int, order: int) -> tuple[int, int]:
    """The branch that stores the message at ``order`` on the path of ``branch``."""
    while branch != 0 and order < table[branch].first:
        branch = table[branch].parent
    return branch, order


def open_webui_chat(session: ChatSession, messages: Iterable[ChatMessage]) -> dict[str, Any]:
    """One session in Open WebUI's import shape (Settings → Chats → Import; ``--source openwebui``
    reads it back): every branch in the ``history.messages`` tree (``messages`` given parents
    before children), ``currentId`` on the active branch's last message, ``messages`` the thread
    from the root to it (what Open WebUI shows)."""
    table = branches.of_session(session)
    history: dict[str, dict[str, Any]] = {}
    at: dict[tuple[int, int], str] = {}
    models: list[str] = []
    for message in messages:
        parent_branch, parent_order = branches.parent_position(table, message.branch, message.order)
        parent = at.get(_holder(table, parent_branch, parent_order)) if parent_order > 0 else None
        entry: dict[str, Any] = {
            "id": message.message_id,
            "parentId": parent,
            "childrenIds": [],
            "role": message.role,
            "content": message.content,
            "timestamp": _epoch(message.created_at),
        }
        if message.model:
            entry["model"] = message.model
            models += [] if message.model in models else [message.model]
        if message.source_documents:
            entry["sources"] = message.source_documents
        if message.attachments:
            entry["files"] = message.attachments
        if parent is not None:
            history[parent]["childrenIds"].append(message.message_id)
        history[message.message_id] = entry
        at[(message.branch, message.order)] = message.message_id
    active = table[branches.active_of(session)]
    current = at.get(_holder(table, active.id, active.tip))
    thread: list[dict[str, Any]] = []
    node = current
    while node is not None:
        thread.append(history[node])
        node = history[node]["parentId"]
    return {
        "id": session.session_id,
        "title": session.title,
        "chat": {
            "id": session.session_id,
            "title": session.title,
            "models": models,
            "history": {"messages": history, "currentId": current},
            "messages": thread[::-1],
            "tags": list(session.tags),
            "timestamp": _epoch(session.created_at) * 1000,
        },
        "created_at": _epoch(session.created_at),
        "updated_at": _epoch(session.updated_at),
        "archived": session.is_archived,
        "pinned": session.is_pinned,
        "meta": {"tags": list(session.tags)},
    }


def open_webui_lines(user_id: int) -> Iterator[str]:
    """All of a user's sessions as one Open WebUI export (a JSON array), one session at a time."""
    yield "["
    for index, session in enumerate(_all_sessions(user_id)):
        chat = open_webui_chat(session, selectors.iter_every_message(session=session))
        yield ("," if index else "") + json.dumps(chat, ensure_ascii=False)
    yield "]"


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
        extras = SessionExtras.of(session)
        yield json.dumps({"type": "session", **session_data(session)}) + "\n"
        for message in selectors.iter_every_message(session=session):
            yield json.dumps({"type": "message", **message_data(message, session, extras)}) + "\n"


def zip_archive(
    user_id: int, *, include: tuple[str, ...] = (), on_session: Callable[[int], None] | None = None
) -> IO[bytes]:
    """A zip with one JSON file per session and ``manifest.json`` holding their SHA-256 sums;
    ``include`` adds each session as Markdown (``markdown/``) and/or PDF (``pdf/``), also listed.

    Spooled to disk past 16 MB, so memory stays bounded whatever the history's size.
    ``on_session`` hears the number of sessions written so far after each one (it may raise to stop).
    """
    spool = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 - returned open
    manifest: dict[str, Any] = {"files": []}
    sessions_written = 0
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
            for fmt in include:
                folder = "markdown" if fmt == "md" else fmt
                data = b"".join(render_session_bytes(session, fmt))
                extra = f"{folder}/{session.session_id}.{FILES[fmt].extension}"
                archive.writestr(extra, data)
                manifest["files"].append({"name": extra, "sha256": hashlib.sha256(data).hexdigest()})
            sessions_written += 1
            if on_session is not None:
                on_session(sessions_written)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2))
    spool.seek(0)
    return spool
