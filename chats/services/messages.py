"""Writes of messages: one append, a whole reply with its token usage; gap-free order, idempotent ids."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chats import branches, builders, search_index, store
from chats.exceptions import InvalidChatInput, MessageNotFound, SessionNotFound
from chats.models import (
    ChatMessage,
    ChatSession,
    MessageStatus,
    Role,
    TokenUsage,
)
from chats.responders.base import Reply
from chats.selectors.messages import messages_at, messages_by_id
from chats.selectors.sessions import get_session
from chats.services.validation import (
    title_from,
    validate_metadata,
    validate_public_id,
    validate_text,
)

logger = logging.getLogger(__name__)


def append_message(
    *,
    session: ChatSession,
    role: str,
    content: str,
    status: str = MessageStatus.COMPLETED,
    model: str = "",
    source_documents: list[dict[str, Any]] | None = None,
    agent_steps: list[Any] | None = None,
    attachments: list[Any] | None = None,
    error_info: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    parent_message_id: str = "",
    message_id: str | None = None,
    created_at: datetime | None = None,
    fork_of: ChatMessage | None = None,
    language: str | None = None,
) -> ChatMessage:
    """Store one message with the next order number; keeps the session's counters in step.

    ``language``: the owner's fixed search language (``User.fixed_search_language``) the text and
    a title given from it are stemmed in; None detects the language of each.

    Appended at the tip of the session's active branch; with ``fork_of`` (one of the session's
    messages) it starts a new branch instead, as a sibling of that message, and the new branch
    becomes active (edit and resend). Its ``parent_message_id`` is then the fork's parent.

    The order comes from an atomic ``$inc`` of the session's ``message_count`` in the same
    transaction as the insert, so orders stay unique and gap-free under concurrent appends.
    A ``message_id`` that the session already has returns the stored message (idempotent replay).
    """
    if role not in Role.values:
        raise InvalidChatInput(f"role must be one of {', '.join(Role.values)}.")
    if status not in MessageStatus.values:
        raise InvalidChatInput(f"status must be one of {', '.join(MessageStatus.values)}.")
    content = builders.message_content(role=role, status=status, content=content)
    validate_text(content)
    if fork_of is not None:
        parent_message_id = _fork_parent_id(session, fork_of)
    message = builders.message(
        session=session,
        role=role,
        content=content,
        message_id=validate_public_id(message_id, what="message_id") if message_id else None,
        created_at=created_at,
        status=status,
        model=model,
        parent_message_id=parent_message_id,
        source_documents=source_documents,
        agent_steps=agent_steps,
        attachments=attachments,
        error_info=error_info,
        metadata=validate_metadata(metadata or {}),
        language=language,
    )
    return _insert_messages(
        session, [message], fork_of=fork_of, fork_parent_id=parent_message_id, language=language
    )[0]


def record_reply(
    *,
    session: ChatSession,
    reply: Reply,
    message_id: str | None = None,
    parent_message_id: str = "",
    created_at: datetime | None = None,
    fork_of: ChatMessage | None = None,
    language: str | None = None,
) -> tuple[ChatMessage, TokenUsage | None]:
    """Store an assistant reply and its token usage in one transaction (idempotent by message_id);
    with ``fork_of`` (the reply it regenerates) as the first message of a new, active branch.
    ``language`` as for ``append_message``."""
    if fork_of is not None:
        parent_message_id = _fork_parent_id(session, fork_of)
    assistant = builders.reply_message(
        session=session,
        reply=reply,
        message_id=validate_public_id(message_id, what="message_id") if message_id else None,
        parent_message_id=parent_message_id,
        created_at=created_at,
        language=language,
    )
    validate_text(assistant.content, what="reply")
    validate_metadata(assistant.metadata)
    if reply.prompt_tokens < 0 or reply.completion_tokens < 0 or reply.cost < 0:
        raise InvalidChatInput("token counts and cost must not be negative.")
    usage = builders.reply_usage(session=session, message=assistant, reply=reply)
    stored = _insert_messages(
        session,
        [assistant],
        usage=usage,
        fork_of=fork_of,
        fork_parent_id=parent_message_id,
        language=language,
    )
    return stored[0], usage


def _fork_parent_id(session: ChatSession, fork_of: ChatMessage) -> str:
    """The id of the message a new sibling of ``fork_of`` answers or follows ("" at order 1).

    A branch's parent and first order never change once written, so the session as read (or, for
    a branch it does not know yet, as stored now) places the parent exactly."""
    if fork_of.session_id != session.pk:
        raise MessageNotFound()
    table = branches.of_session(session)
    if fork_of.branch not in table:
        table = branches.of_session(get_session(user_id=session.user_id, session_id=session.session_id))
    if fork_of.branch not in table:
        raise InvalidChatInput("that message is not in this conversation.")
    branch, order = branches.parent_position(table, fork_of.branch, fork_of.order)
    if order == 0:
        return ""
    found = messages_at(session=session, positions=[(branch, order)])
    return found[0].message_id if found else ""


def _insert_messages(
    session: ChatSession,
    messages: list[ChatMessage],
    *,
    usage: TokenUsage | None = None,
    fork_of: ChatMessage | None = None,
    fork_parent_id: str = "",
    language: str | None = None,
) -> list[ChatMessage]:
    """Insert at the tip of the active branch — or, with ``fork_of``, as a new branch holding a
    sibling of that message, made active — with the session's counters, in one transaction."""
    collection = store.collection(ChatMessage)
    last_at = max(message.created_at for message in messages)
    first_user = None if fork_of else next((m for m in messages if m.role == Role.USER), None)

    counters: dict[str, Any] = {
        "$inc": {"message_count": len(messages)},
        "$max": {"last_message_at": last_at, "updated_at": last_at},
    }

    attempts: list[ClientSession] = []

    def write(txn: ClientSession) -> _Placed:
        # Optimistic only on the first attempt: a retried transaction met another writer.
        attempts.append(txn)
        placed = _count_up(
            session,
            counters,
            first_user,
            txn,
            optimistic=len(attempts) == 1,
            fork=(fork_of, fork_parent_id) if fork_of else None,
            size=len(messages),
            language=language,
        )
        for offset, message in enumerate(messages):
            message.order = placed.first_order + offset
            message.branch = placed.branch
        collection.insert_many([store.to_document(message) for message in messages], session=txn)
        if usage is not None:
            usage.message_id = usage.message.pk  # assigned by to_document() above
            store.collection(TokenUsage).insert_one(store.to_document(usage), session=txn)
        return placed

    for message in messages:
        message.pk = None
    _index(messages, language)
    try:
        placed = store.run_transaction(write)
    except (DuplicateKeyError, BulkWriteError) as exc:
        if not _is_duplicate_key(exc):
            raise
        replayed = _already_stored(session, messages)
        if replayed is None:
            raise
        return replayed
    _count_soon(messages, placed.count)
    session.message_count = placed.count
    session.active_branch = placed.branch
    session.branches = placed.branches
    session.last_message_at = max(session.last_message_at or last_at, last_at)
    session.updated_at = max(session.updated_at, last_at)
    session.title = placed.title
    if usage is not None:
        store.mark_saved(usage)
    return [store.mark_saved(message) for message in messages]


@dataclass(frozen=True)
class _Placed:
    """Where new messages go and the session's state after them."""

    count: int
    title: str
    branch: int
    first_order: int
    branches: list[dict[str, Any]]


def _index(messages: list[ChatMessage], language: str | None) -> None:
    """Postings before the transaction, placed from the owner's vocabulary counts as they stand;
    the counting itself is deferred (``search_index``): the messages are stored marked
    ``search_uncounted``, and ``_count_soon`` asks for the count now and then."""
    documents = [
        {
            "user_id": m.user_id,
            "created_at": m.created_at,
            "content": m.content,
            "search_terms": m.search_terms,
        }
        for m in messages
    ]
    search_index.index_documents(documents, language=language, defer_counts=True)
    for message, document in zip(messages, documents, strict=True):
        message.search_postings = document["search_postings"]
        message.search_uncounted = document.get(search_index.UNCOUNTED)


def _count_soon(messages: list[ChatMessage], count_after: int) -> None:
    """Every ``COUNT_EVERY`` messages of a conversation, ask a worker to count its owner's
    deferred terms (a broker outage only leaves them to the job that runs every minute)."""
    if not any(message.search_uncounted for message in messages):
        return
    every = search_index.COUNT_EVERY
    if (count_after - len(messages)) // every == count_after // every:
        return
    from chats import tasks  # the task module imports the services

    tasks.enqueue_search_count(user_id=messages[0].user_id)


def _count_up(
    session: ChatSession,
    counters: dict[str, Any],
    first_user: ChatMessage | None,
    txn: ClientSession,
    *,
    optimistic: bool,
    fork: tuple[ChatMessage, str] | None,
    size: int,
    language: str | None,
) -> _Placed:
    """Add the new messages to the session's counters in the transaction and place them: at the
    tip of the active branch, or (``fork_of``) at the start of a new branch, which becomes active.
    The title is given from the first user message when the session has none.

    On the transaction's first attempt (``optimistic``) in one command: the session as this
    process last read it (its count and active branch, and no title when one is given), the common
    case of one writer per conversation; every write of messages or forks changes the count, so a
    matching count means the branch table is the one read. When another writer got there first,
    or on a retried attempt, the count is incremented first (the transaction now holds the
    session), then read back and the branch table updated (``update_one`` + ``find_one``, not
    ``find_one_and_update``: some MongoDB-compatible servers (SecantusDB) run findAndModify as a
    collection scan: 240 ms at 20k sessions against 2 ms). Either way the orders stay unique and
    gap-free along every branch.
    """
    sessions = store.collection(ChatSession)
    live = {**store.owned(session), "deleted_at": None}
    known_title = session.title or ""
    title = known_title
    if not known_title and first_user is not None:
        title = title_from(first_user.content, max_chars=settings.CHAT_TITLE_MAX_CHARS)
    named = (
        {"$set": builders.title_change(user_id=session.user_id, title=title, language=language)}
        if title != known_title
        else {}
    )
    if optimistic:
        placed, change = _place(
            session.message_count, session.active_branch, list(session.branches or []), fork, size
        )
        expected = {
            "message_count": session.message_count,
            "active_branch": session.active_branch,
            **({"title": known_title} if named else {}),
        }
        update = _merged(counters, named, change)
        if sessions.update_one({**live, **expected}, update, session=txn).matched_count:
            return _Placed(session.message_count + size, title, *placed)
    if sessions.update_one(live, counters, session=txn).matched_count == 0:
        raise SessionNotFound()
    state = sessions.find_one(
        store.owned(session),
        {"message_count": 1, "title": 1, "active_branch": 1, "branches": 1},
        session=txn,
    )
    if state is None:
        raise SessionNotFound()
    count = int(state["message_count"])
    placed, change = _place(
        count - size, int(state.get("active_branch") or 0), list(state.get("branches") or []), fork, size
    )
    title = state.get("title") or ""
    if not title and first_user is not None:
        title = title_from(first_user.content, max_chars=settings.CHAT_TITLE_MAX_CHARS)
        change = _merged(
            change, {"$set": builders.title_change(user_id=session.user_id, title=title, language=language)}
        )
    if change:
        sessions.update_one(store.owned(session), change, session=txn)
    return _Placed(count, title, *placed)


def _place(
    count: int, active: int, stored: list[dict[str, Any]], fork: tuple[ChatMessage, str] | None, size: int
) -> tuple[tuple[int, int, list[dict[str, Any]]], dict[str, Any]]:
    """(branch, first order, branch table after) of ``size`` new messages in a session of
    ``count`` messages, and the session update that records them beside the ``$inc`` of the count."""
    table = branches.table(message_count=count, stored=stored)
    if fork is None:
        active = active if active in table else 0
        first_order = table[active].tip + 1
        if active == 0:
            return (0, first_order, stored), {}
        index = next(n for n, entry in enumerate(stored) if int(entry["id"]) == active)
        after = [dict(entry) for entry in stored]
        after[index]["tip"] = int(after[index]["tip"]) + size
        return (active, first_order, after), {"$inc": {f"branches.{index}.tip": size}}
    fork_of, fork_parent_id = fork
    if (
        fork_of.branch not in table
        or not table[fork_of.branch].first <= fork_of.order <= table[fork_of.branch].tip
    ):
        raise InvalidChatInput("that message is not in this conversation.")
    new = branches.new_fork(
        table, sibling_branch=fork_of.branch, order=fork_of.order, fork_message_id=fork_parent_id
    )
    document = builders.fork(
        id=new.id,
        parent=new.parent,
        first=new.first,
        tip=new.first + size - 1,
        fork_message_id=fork_parent_id,
    )
    return (new.id, new.first, [*stored, document]), {
        "$push": {"branches": document},
        "$set": {"active_branch": new.id},
    }


def _merged(*updates: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for update in updates:
        for operator, fields in update.items():
            merged[operator] = {**merged.get(operator, {}), **fields}
    return merged


def _is_duplicate_key(exc: DuplicateKeyError | BulkWriteError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    return all(error.get("code") == 11000 for error in exc.details.get("writeErrors", [])) and bool(
        exc.details.get("writeErrors")
    )


def _already_stored(session: ChatSession, messages: list[ChatMessage]) -> list[ChatMessage] | None:
    """The stored copies when every message id was written before (a replay), else None."""
    ids = [message.message_id for message in messages]
    stored = {
        message.message_id: message
        for message in messages_by_id(user_id=session.user_id, message_ids=ids)
        if message.session_id == session.pk
    }
    if len(stored) != len(ids):
        return None
    return [stored[message_id] for message_id in ids]
