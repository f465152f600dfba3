"""Writes to chat sessions: start, change, soft-delete, restore, delete for good, clear a user."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Int64
from django.conf import settings
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError

from chats import branches, builders, recent_history, search, search_index, store
from chats.exceptions import InvalidChatInput, SessionAlreadyExists, SessionNotFound
from chats.models import (
    Channel,
    ChatMessage,
    ChatSession,
    MessageVote,
    SessionType,
    TokenUsage,
)
from chats.services.validation import (
    validate_metadata,
    validate_public_id,
    validate_tags,
    validate_text,
)
from ehr.services import remove_conversation_shares

logger = logging.getLogger(__name__)


MAX_TAG_CHARS = 50
UPDATABLE_SESSION_FIELDS = frozenset({"title", "metadata", "tags", "is_active", "is_archived", "is_pinned"})


def start_session(
    *,
    user_id: int,
    session_id: str | None = None,
    title: str = "",
    session_type: str = SessionType.GENERAL,
    channel: str = Channel.WEB,
    tags: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    language: str | None = None,
) -> ChatSession:
    """Create a session; a client may choose its id (unique per user). ``language``: the owner's
    fixed search language the title is stemmed in (None: detected)."""
    if session_type not in SessionType.values:
        raise InvalidChatInput(f"session_type must be one of {', '.join(SessionType.values)}.")
    if channel not in Channel.values:
        raise InvalidChatInput(f"channel must be one of {', '.join(Channel.values)}.")
    if title:
        validate_text(title, what="title", max_chars=settings.CHAT_TITLE_MAX_CHARS)
    session = builders.session(
        user_id=user_id,
        session_id=validate_public_id(session_id) if session_id else None,
        title=title,
        session_type=session_type,
        channel=channel,
        tags=validate_tags(tags or []),
        metadata=validate_metadata(metadata or {}),
        created_at=created_at,
        language=language,
    )
    try:
        store.collection(ChatSession).insert_one(store.to_document(session))
    except DuplicateKeyError as exc:
        raise SessionAlreadyExists() from exc
    logger.info("chat session started", extra={"session_id": session.session_id, "user_id": user_id})
    return store.mark_saved(session)


def update_session(*, session: ChatSession, language: str | None = None, **changes: Any) -> ChatSession:
    """Change title, metadata, tags or the active/archived/pinned flags; nothing else. A new title
    is stemmed in ``language`` (the owner's fixed search language; None: detected)."""
    unknown = set(changes) - UPDATABLE_SESSION_FIELDS
    if unknown:
        raise InvalidChatInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}.")
    if "title" in changes:
        changes["title"] = validate_text(
            changes["title"], what="title", max_chars=settings.CHAT_TITLE_MAX_CHARS
        ).strip()
        changes["search_terms"] = search.document_keys(session.user_id, changes["title"], language)
    if "tags" in changes:
        changes["tags"] = validate_tags(changes["tags"])
    if "metadata" in changes:
        changes["metadata"] = validate_metadata(changes["metadata"])
    for flag in ("is_active", "is_archived", "is_pinned"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise InvalidChatInput(f"{flag} must be true or false.")
    changes["updated_at"] = store.now()
    for name, value in changes.items():
        setattr(session, name, value)
    document = store.to_document(session)
    columns = {field.name: field.column for field in ChatSession._meta.concrete_fields}
    encoded = {columns[name]: document[columns[name]] for name in changes}
    result = store.collection(ChatSession).update_one(store.owned(session), {"$set": encoded})
    if result.matched_count == 0:
        raise SessionNotFound()
    return session


def set_pinned(*, session: ChatSession, pinned: bool) -> ChatSession:
    return update_session(session=session, is_pinned=pinned)


def set_archived(*, session: ChatSession, archived: bool) -> ChatSession:
    return update_session(session=session, is_archived=archived)


def soft_delete_session(*, session: ChatSession) -> ChatSession:
    """Hide a session; restorable until the retention cleanup purges it. Its care-team shares go
    first (MySQL before MongoDB): a restored session is shared again only if its owner shares it."""
    remove_conversation_shares(patient_user_id=session.user_id, session_id=session.session_id)
    moment = store.now()
    store.collection(ChatSession).update_one(
        store.owned(session), {"$set": {"deleted_at": moment, "updated_at": moment}}
    )
    session.deleted_at = session.updated_at = moment
    recent_history.purge_session_cache(user_id=session.user_id, session_id=session.session_id)
    return session


def restore_session(*, session: ChatSession) -> ChatSession:
    moment = store.now()
    store.collection(ChatSession).update_one(
        store.owned(session), {"$set": {"deleted_at": None, "updated_at": moment}}
    )
    session.deleted_at, session.updated_at = None, moment
    return session


def set_legal_hold(*, session: ChatSession, hold: bool) -> ChatSession:
    store.collection(ChatSession).update_one(store.owned(session), {"$set": {"legal_hold": hold}})
    session.legal_hold = hold
    return session


@dataclass(frozen=True)
class DeletedCounts:
    sessions: int = 0
    messages: int = 0
    votes: int = 0
    token_usage: int = 0

    def __add__(self, other: DeletedCounts) -> DeletedCounts:
        return DeletedCounts(
            self.sessions + other.sessions,
            self.messages + other.messages,
            self.votes + other.votes,
            self.token_usage + other.token_usage,
        )


# Messages an erasure removes per statement: one index range of orders, well within the deadline.
ERASE_BATCH_MESSAGES = 500


def _delete_session_documents(session: ChatSession) -> DeletedCounts:
    """A session with its messages, votes and token usage.

    One transaction has the short request deadline, which deleting a long conversation outlasts
    (so it would never complete). The children therefore go first: votes and usage, then the
    messages in index ranges of ``ERASE_BATCH_MESSAGES`` orders of each branch, newest first, each a short
    statement of its own; then the session together with anything written to it meanwhile, in one
    transaction. The session is hidden first: interrupted anywhere, it is still there, hidden, and a
    rerun finishes the job, so a session never disappears while a child of it remains.
    """
    if session.deleted_at is None:  # nobody reads a half-erased conversation meanwhile
        soft_delete_session(session=session)
    owned = {"user_id": Int64(session.user_id), "session_id": session.pk}
    counts = DeletedCounts(
        votes=store.collection(MessageVote).delete_many(owned).deleted_count,
        token_usage=store.collection(TokenUsage).delete_many(owned).deleted_count,
    )
    for branch in branches.of_session(session).values():  # exact ranges of each branch's orders
        for top in range(branch.tip, branch.first - 1, -ERASE_BATCH_MESSAGES):
            low = max(branch.first, top - ERASE_BATCH_MESSAGES + 1)
            batch = {**owned, "branch": branch.id, "order": {"$gte": low, "$lte": top}}
            counts += DeletedCounts(messages=store.collection(ChatMessage).delete_many(batch).deleted_count)

    def delete(txn: ClientSession) -> DeletedCounts:
        return DeletedCounts(
            votes=store.collection(MessageVote).delete_many(owned, session=txn).deleted_count,
            token_usage=store.collection(TokenUsage).delete_many(owned, session=txn).deleted_count,
            messages=store.collection(ChatMessage).delete_many(owned, session=txn).deleted_count,
            sessions=store.collection(ChatSession)
            .delete_one(store.owned(session), session=txn)
            .deleted_count,
        )

    return counts + store.run_transaction(delete)


@dataclass(frozen=True)
class ErasedChats:
    """What an erasure removed, and the sessions a legal hold kept (hidden from the patient)."""

    counts: DeletedCounts
    kept_session_ids: list[str]


def delete_session_permanently(*, session: ChatSession) -> ErasedChats:
    """Destroy a session with everything in it — unless it is under legal hold.

    A held session is soft-deleted instead (hidden from its owner, kept for the hold) and named
    in ``kept_session_ids``. Idempotent: deleting a session that is gone deletes nothing.
    """
    recent_history.purge_session_cache(user_id=session.user_id, session_id=session.session_id)
    remove_conversation_shares(patient_user_id=session.user_id, session_id=session.session_id)
    if session.legal_hold:
        if session.deleted_at is None:
            soft_delete_session(session=session)
        logger.info("held chat session hidden, not destroyed", extra={"session_id": session.session_id})
        return ErasedChats(counts=DeletedCounts(), kept_session_ids=[session.session_id])
    counts = _delete_session_documents(session)
    logger.info(
        "chat session deleted permanently",
        extra={"session_id": session.session_id, "user_id": session.user_id, "messages": counts.messages},
    )
    return ErasedChats(counts=counts, kept_session_ids=[])


def clear_user_chats(*, user_id: int) -> ErasedChats:
    """Erase every session of a user that is not under legal hold; held ones are only hidden.

    Each session goes with its children in its own transaction (never plain deletes racing the
    user's in-flight transactions), then documents left without a session (a crash between two
    runs) are removed. Idempotent: a rerun finishes an interrupted one.
    """
    counts = DeletedCounts()
    kept: list[str] = []
    sessions = list(ChatSession.objects.filter(user_id=user_id).order_by("pk"))
    for session in sessions:
        erased = delete_session_permanently(session=session)
        counts += erased.counts
        kept += erased.kept_session_ids
    held_pks = [session.pk for session in sessions if session.session_id in kept]
    orphans = {"user_id": Int64(user_id), "session_id": {"$nin": held_pks}}
    counts += DeletedCounts(
        votes=store.collection(MessageVote).delete_many(orphans).deleted_count,
        token_usage=store.collection(TokenUsage).delete_many(orphans).deleted_count,
        messages=store.collection(ChatMessage).delete_many(orphans).deleted_count,
    )
    # The whole vocabulary goes (terms of erased messages are PHI); held sessions are hidden from
    # their owner's search anyway, and staff search them by exact terms, without a vocabulary.
    search_index.forget_user(user_id)
    recent_history.purge_user_cache(user_id=user_id)
    logger.info(
        "chat history cleared", extra={"user_id": user_id, "sessions": counts.sessions, "kept": len(kept)}
    )
    return ErasedChats(counts=counts, kept_session_ids=kept)
