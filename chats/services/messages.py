"""Writes of messages: one append, a whole reply with its token usage; gap-free order, idempotent ids."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chats import builders, store
from chats.exceptions import InvalidChatInput, SessionNotFound
from chats.models import (
    ChatMessage,
    ChatSession,
    MessageStatus,
    Role,
    TokenUsage,
)
from chats.responders.base import Reply
from chats.selectors.messages import messages_by_id
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
) -> ChatMessage:
    """Store one message with the next order number; keeps the session's counters in step.

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
    )
    return _insert_messages(session, [message])[0]


def record_reply(
    *,
    session: ChatSession,
    reply: Reply,
    message_id: str | None = None,
    parent_message_id: str = "",
    created_at: datetime | None = None,
) -> tuple[ChatMessage, TokenUsage | None]:
    """Store an assistant reply and its token usage in one transaction (idempotent by message_id)."""
    assistant = builders.reply_message(
        session=session,
        reply=reply,
        message_id=validate_public_id(message_id, what="message_id") if message_id else None,
        parent_message_id=parent_message_id,
        created_at=created_at,
    )
    validate_text(assistant.content, what="reply")
    validate_metadata(assistant.metadata)
    if reply.prompt_tokens < 0 or reply.completion_tokens < 0 or reply.cost < 0:
        raise InvalidChatInput("token counts and cost must not be negative.")
    usage = builders.reply_usage(session=session, message=assistant, reply=reply)
    stored = _insert_messages(session, [assistant], usage=usage)
    return stored[0], usage


def _insert_messages(
    session: ChatSession, messages: list[ChatMessage], *, usage: TokenUsage | None = None
) -> list[ChatMessage]:
    collection = store.collection(ChatMessage)
    last_at = max(message.created_at for message in messages)
    first_user = next((m for m in messages if m.role == Role.USER), None)

    counters: dict[str, Any] = {
        "$inc": {"message_count": len(messages)},
        "$max": {"last_message_at": last_at, "updated_at": last_at},
    }

    attempts: list[ClientSession] = []

    def write(txn: ClientSession) -> tuple[int, str]:
        # Optimistic only on the first attempt: a retried transaction met another writer.
        attempts.append(txn)
        count, title = _count_up(session, counters, first_user, txn, optimistic=len(attempts) == 1)
        first_order = count - len(messages) + 1
        for offset, message in enumerate(messages):
            message.order = first_order + offset
        collection.insert_many([store.to_document(message) for message in messages], session=txn)
        if usage is not None:
            usage.message_id = usage.message.pk  # assigned by to_document() above
            store.collection(TokenUsage).insert_one(store.to_document(usage), session=txn)
        return count, title

    for message in messages:
        message.pk = None
    try:
        count, title = store.run_transaction(write)
    except (DuplicateKeyError, BulkWriteError) as exc:
        if not _is_duplicate_key(exc):
            raise
        replayed = _already_stored(session, messages)
        if replayed is None:
            raise
        return replayed
    session.message_count = count
    session.last_message_at = max(session.last_message_at or last_at, last_at)
    session.updated_at = max(session.updated_at, last_at)
    session.title = title
    if usage is not None:
        store.mark_saved(usage)
    return [store.mark_saved(message) for message in messages]


def _count_up(
    session: ChatSession,
    counters: dict[str, Any],
    first_user: ChatMessage | None,
    txn: ClientSession,
    *,
    optimistic: bool,
) -> tuple[int, str]:
    """Add the new messages to the session's counter in the transaction; returns the new count and
    the title (given from the first user message when the session has none).

    On the transaction's first attempt (``optimistic``) in one command: the session as this
    process last read it (its count, and no title when one is given), the common case of one
    writer per conversation. When another writer got there first, or on a retried attempt, the
    counter is incremented and read back (``update_one`` + ``find_one``, not
    ``find_one_and_update``: the same atomicity inside the transaction, and some MongoDB-compatible
    servers (SecantusDB) run findAndModify as a collection scan: 240 ms at 20k sessions against
    2 ms). Either way the orders stay unique and gap-free.
    """
    sessions = store.collection(ChatSession)
    live = {**store.owned(session), "deleted_at": None}
    known_title = session.title or ""
    title = known_title
    if not known_title and first_user is not None:
        title = title_from(first_user.content, max_chars=settings.CHAT_TITLE_MAX_CHARS)
    named = (
        {"$set": builders.title_change(user_id=session.user_id, title=title)} if title != known_title else {}
    )
    expected = {"message_count": session.message_count, **({"title": known_title} if named else {})}
    if (
        optimistic
        and sessions.update_one({**live, **expected}, {**counters, **named}, session=txn).matched_count
    ):
        return session.message_count + counters["$inc"]["message_count"], title
    if sessions.update_one(live, counters, session=txn).matched_count == 0:
        raise SessionNotFound()
    state = sessions.find_one(store.owned(session), {"message_count": 1, "title": 1}, session=txn)
    if state is None:
        raise SessionNotFound()
    title = state.get("title") or ""
    if not title and first_user is not None:
        title = title_from(first_user.content, max_chars=settings.CHAT_TITLE_MAX_CHARS)
        sessions.update_one(
            store.owned(session),
            {"$set": builders.title_change(user_id=session.user_id, title=title)},
            session=txn,
        )
    return int(state["message_count"]), title


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
