"""Every write to the chat store. Views, tasks, the admin and commands call these.

Arguments are keyword-only. Sessions are always addressed together with their owner's
``user_id`` (the shard key), so a caller can never touch someone else's data by id alone.
"""

from __future__ import annotations

import hashlib
import logging
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson import Int64, ObjectId
from django.conf import settings
from django.utils import timezone
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from chats import documents, search
from chats.exceptions import InvalidChatInput, SessionAlreadyExists, SessionNotFound
from chats.models import (
    Channel,
    ChatMessage,
    ChatSession,
    DailyChatStats,
    MessageStatus,
    MessageVote,
    Role,
    SessionType,
    TokenUsage,
    VoteType,
)
from medibot.mongodb.shard_guard import unscoped

logger = logging.getLogger(__name__)

PUBLIC_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")  # \Z: "$" would accept a trailing newline
MAX_TAGS = 20
MAX_TAG_CHARS = 50
UPDATABLE_SESSION_FIELDS = frozenset({"title", "metadata", "tags", "is_active", "is_archived", "is_pinned"})


# --- validation ------------------------------------------------------------------------------------


def validate_public_id(value: str, *, what: str = "session_id") -> str:
    if not isinstance(value, str) or not PUBLIC_ID.match(value):
        raise InvalidChatInput(
            f"{what} must be 1-64 characters of letters, digits, '_', '.', ':' or '-' (a UUID works)."
        )
    return value


def validate_text(value: str, *, what: str = "message", max_chars: int | None = None) -> str:
    limit = max_chars or settings.CHAT_MAX_MESSAGE_CHARS
    if not isinstance(value, str):
        raise InvalidChatInput(f"{what} must be a string.")
    if not value.strip():
        raise InvalidChatInput(f"{what} must not be empty.")
    if len(value) > limit:
        raise InvalidChatInput(f"{what} is too long: {len(value)} characters, at most {limit} are allowed.")
    if "\x00" in value:
        raise InvalidChatInput(f"{what} must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidChatInput(f"{what} is not valid Unicode text (lone surrogate).") from exc
    return value


def validate_tags(tags: list[str]) -> list[str]:
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise InvalidChatInput(f"tags must be a list of at most {MAX_TAGS} strings.")
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise InvalidChatInput(
                f"each tag must be a non-empty string of at most {MAX_TAG_CHARS} characters."
            )
        validate_text(tag, what="tag", max_chars=MAX_TAG_CHARS)
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


def validate_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """JSON objects only, without keys MongoDB would read as operators or paths."""
    if not isinstance(metadata, dict):
        raise InvalidChatInput("metadata must be a JSON object.")
    _check_keys(metadata, depth=0)
    return metadata


def _check_keys(value: Any, *, depth: int) -> None:
    if depth > 10:
        raise InvalidChatInput("metadata is nested too deeply (at most 10 levels).")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key or "\x00" in key:
                raise InvalidChatInput("metadata keys must not start with '$' or contain '.' or NUL.")
            _check_keys(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, depth=depth + 1)


def title_from(text: str, *, max_chars: int = 80) -> str:
    """The first line of ``text``, whitespace collapsed, cut at a word boundary to ``max_chars``."""
    collapsed = " ".join(text.split())
    if len(collapsed) <= max_chars:
        return collapsed
    cut = collapsed[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"


def content_hash(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


# --- sessions ---------------------------------------------------------------------------------------


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
) -> ChatSession:
    """Create a session; a client may choose its id (unique per user)."""
    if session_type not in SessionType.values:
        raise InvalidChatInput(f"session_type must be one of {', '.join(SessionType.values)}.")
    if channel not in Channel.values:
        raise InvalidChatInput(f"channel must be one of {', '.join(Channel.values)}.")
    if title:
        validate_text(title, what="title", max_chars=settings.CHAT_TITLE_MAX_CHARS)
    moment = created_at or documents.now()
    session = ChatSession(
        session_id=validate_public_id(session_id) if session_id else str(uuid.uuid4()),
        user_id=user_id,
        title=title.strip(),
        session_type=session_type,
        channel=channel,
        tags=validate_tags(tags or []),
        metadata=validate_metadata(metadata or {}),
        search_terms=search.terms_for(title),
        created_at=moment,
        updated_at=moment,
    )
    try:
        documents.collection(ChatSession).insert_one(documents.to_document(session))
    except DuplicateKeyError as exc:
        raise SessionAlreadyExists() from exc
    logger.info("chat session started", extra={"session_id": session.session_id, "user_id": user_id})
    return documents.mark_saved(session)


def update_session(*, session: ChatSession, **changes: Any) -> ChatSession:
    """Change title, metadata, tags or the active/archived/pinned flags; nothing else."""
    unknown = set(changes) - UPDATABLE_SESSION_FIELDS
    if unknown:
        raise InvalidChatInput(f"these fields cannot be changed: {', '.join(sorted(unknown))}.")
    if "title" in changes:
        changes["title"] = validate_text(
            changes["title"], what="title", max_chars=settings.CHAT_TITLE_MAX_CHARS
        ).strip()
        changes["search_terms"] = search.terms_for(changes["title"])
    if "tags" in changes:
        changes["tags"] = validate_tags(changes["tags"])
    if "metadata" in changes:
        changes["metadata"] = validate_metadata(changes["metadata"])
    for flag in ("is_active", "is_archived", "is_pinned"):
        if flag in changes and not isinstance(changes[flag], bool):
            raise InvalidChatInput(f"{flag} must be true or false.")
    changes["updated_at"] = documents.now()
    for name, value in changes.items():
        setattr(session, name, value)
    document = documents.to_document(session)
    columns = {field.name: field.column for field in ChatSession._meta.concrete_fields}
    encoded = {columns[name]: document[columns[name]] for name in changes}
    result = documents.collection(ChatSession).update_one(_owned(session), {"$set": encoded})
    if result.matched_count == 0:
        raise SessionNotFound()
    return session


def rename_session(*, session: ChatSession, title: str) -> ChatSession:
    return update_session(session=session, title=title)


def set_tags(*, session: ChatSession, tags: list[str]) -> ChatSession:
    return update_session(session=session, tags=tags)


def set_pinned(*, session: ChatSession, pinned: bool) -> ChatSession:
    return update_session(session=session, is_pinned=pinned)


def set_archived(*, session: ChatSession, archived: bool) -> ChatSession:
    return update_session(session=session, is_archived=archived)


def soft_delete_session(*, session: ChatSession) -> ChatSession:
    """Hide a session; restorable until the retention cleanup purges it."""
    moment = documents.now()
    documents.collection(ChatSession).update_one(
        _owned(session), {"$set": {"deleted_at": moment, "updated_at": moment}}
    )
    session.deleted_at = session.updated_at = moment
    return session


def restore_session(*, session: ChatSession) -> ChatSession:
    moment = documents.now()
    documents.collection(ChatSession).update_one(
        _owned(session), {"$set": {"deleted_at": None, "updated_at": moment}}
    )
    session.deleted_at, session.updated_at = None, moment
    return session


def set_legal_hold(*, session: ChatSession, hold: bool) -> ChatSession:
    documents.collection(ChatSession).update_one(_owned(session), {"$set": {"legal_hold": hold}})
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


def delete_session_permanently(*, session: ChatSession) -> DeletedCounts:
    """Remove a session with its messages, votes and token usage in one transaction."""

    def delete(txn: ClientSession) -> DeletedCounts:
        owned = {"user_id": Int64(session.user_id), "session_id": session.pk}
        return DeletedCounts(
            votes=documents.collection(MessageVote).delete_many(owned, session=txn).deleted_count,
            token_usage=documents.collection(TokenUsage).delete_many(owned, session=txn).deleted_count,
            messages=documents.collection(ChatMessage).delete_many(owned, session=txn).deleted_count,
            sessions=documents.collection(ChatSession).delete_one(_owned(session), session=txn).deleted_count,
        )

    counts = documents.run_transaction(delete)
    logger.info(
        "chat session deleted permanently",
        extra={"session_id": session.session_id, "user_id": session.user_id, "messages": counts.messages},
    )
    return counts


def clear_user_chats(*, user_id: int) -> DeletedCounts:
    """Remove everything one user has in the chat store (children first, so a rerun finishes)."""
    owned = {"user_id": Int64(user_id)}
    counts = DeletedCounts(
        votes=documents.collection(MessageVote).delete_many(owned).deleted_count,
        token_usage=documents.collection(TokenUsage).delete_many(owned).deleted_count,
        messages=documents.collection(ChatMessage).delete_many(owned).deleted_count,
        sessions=documents.collection(ChatSession).delete_many(owned).deleted_count,
    )
    logger.info("chat history cleared", extra={"user_id": user_id, "sessions": counts.sessions})
    return counts


# --- messages ----------------------------------------------------------------------------------------


@dataclass
class Reply:
    """What a responder produced, ready to be stored as the assistant message."""

    content: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    source_documents: list[dict[str, Any]] = field(default_factory=list)
    agent_steps: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = MessageStatus.COMPLETED
    error_info: dict[str, Any] = field(default_factory=dict)


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
    if role == Role.ASSISTANT and status == MessageStatus.FAILED and not content:
        content = "(no reply)"
    validate_text(content)
    message = ChatMessage(
        message_id=validate_public_id(message_id, what="message_id") if message_id else str(uuid.uuid4()),
        session=session,
        user_id=session.user_id,
        role=role,
        content=content,
        status=status,
        model=model,
        source_documents=source_documents or [],
        agent_steps=agent_steps or [],
        attachments=attachments or [],
        error_info=error_info or {},
        metadata=validate_metadata(metadata or {}),
        parent_message_id=parent_message_id,
        content_hash=content_hash(content),
        search_terms=search.terms_for(content),
        created_at=created_at or documents.now(),
        order=0,
    )
    return _insert_messages(session, [message])[0]


def record_exchange(
    *,
    session: ChatSession,
    user_content: str,
    reply: Reply,
    user_message_id: str | None = None,
    assistant_message_id: str | None = None,
) -> tuple[ChatMessage, ChatMessage, TokenUsage | None]:
    """Store a user message and the assistant's reply with its token usage, all or nothing."""
    validate_text(user_content)
    user_message = ChatMessage(
        message_id=validate_public_id(user_message_id, what="message_id")
        if user_message_id
        else str(uuid.uuid4()),
        session=session,
        user_id=session.user_id,
        role=Role.USER,
        content=user_content,
        content_hash=content_hash(user_content),
        search_terms=search.terms_for(user_content),
        created_at=documents.now(),
        order=0,
    )
    assistant = _assistant_message(session=session, reply=reply, message_id=assistant_message_id)
    usage = _usage_for(session=session, message=assistant, reply=reply)
    stored = _insert_messages(session, [user_message, assistant], usage=usage)
    return stored[0], stored[1], usage


def record_reply(
    *,
    session: ChatSession,
    reply: Reply,
    message_id: str | None = None,
    parent_message_id: str = "",
    created_at: datetime | None = None,
) -> tuple[ChatMessage, TokenUsage | None]:
    """Store an assistant reply and its token usage in one transaction (idempotent by message_id)."""
    assistant = _assistant_message(
        session=session, reply=reply, message_id=message_id, parent_message_id=parent_message_id
    )
    if created_at is not None:
        assistant.created_at = created_at
    usage = _usage_for(session=session, message=assistant, reply=reply)
    stored = _insert_messages(session, [assistant], usage=usage)
    return stored[0], usage


def _assistant_message(
    *, session: ChatSession, reply: Reply, message_id: str | None, parent_message_id: str = ""
) -> ChatMessage:
    content = reply.content or ("(no reply)" if reply.status == MessageStatus.FAILED else "")
    metadata = dict(reply.metadata or {})
    content, truncated = _provider_text(content)
    if truncated:
        metadata["truncated"] = True
    validate_text(content, what="reply")
    return ChatMessage(
        message_id=validate_public_id(message_id, what="message_id") if message_id else str(uuid.uuid4()),
        session=session,
        user_id=session.user_id,
        role=Role.ASSISTANT,
        content=content,
        status=reply.status,
        model=reply.model,
        source_documents=reply.source_documents,
        agent_steps=reply.agent_steps,
        error_info=reply.error_info,
        metadata=validate_metadata(metadata),
        parent_message_id=parent_message_id,
        content_hash=content_hash(content),
        search_terms=search.terms_for(content),
        created_at=documents.now(),
        order=0,
    )


def _provider_text(content: str) -> tuple[str, bool]:
    """A provider's reply made storable: NULs dropped, invalid Unicode replaced, and cut at
    CHAT_MAX_MESSAGE_CHARS (the user's message is already stored; refusing the reply would lose it).
    Returns the text and whether it was truncated."""
    content = content.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(content) <= limit:
        return content, False
    return content[:limit], True


def _usage_for(*, session: ChatSession, message: ChatMessage, reply: Reply) -> TokenUsage | None:
    if reply.status == MessageStatus.FAILED or not (reply.prompt_tokens or reply.completion_tokens):
        return None
    if reply.prompt_tokens < 0 or reply.completion_tokens < 0 or reply.cost < 0:
        raise InvalidChatInput("token counts and cost must not be negative.")
    return TokenUsage(
        session=session,
        message=message,
        user_id=session.user_id,
        model=reply.model or "unknown",
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        total_tokens=reply.prompt_tokens + reply.completion_tokens,
        cost=reply.cost,
        created_at=message.created_at,
    )


def _insert_messages(
    session: ChatSession, messages: list[ChatMessage], *, usage: TokenUsage | None = None
) -> list[ChatMessage]:
    sessions = documents.collection(ChatSession)
    collection = documents.collection(ChatMessage)
    last_at = max(message.created_at for message in messages)
    first_user = next((m for m in messages if m.role == Role.USER), None)

    def write(txn: ClientSession) -> tuple[int, str]:
        # update_one + find_one in the transaction, not find_one_and_update: the same atomicity
        # (the transaction holds the write), and some MongoDB-compatible servers (SecantusDB)
        # run findAndModify as a collection scan — 240 ms at 20k sessions against 2 ms.
        changed = sessions.update_one(
            {**_owned(session), "deleted_at": None},
            {
                "$inc": {"message_count": len(messages)},
                "$max": {"last_message_at": last_at, "updated_at": last_at},
            },
            session=txn,
        )
        if changed.matched_count == 0:
            raise SessionNotFound()
        state = sessions.find_one(_owned(session), {"message_count": 1, "title": 1}, session=txn)
        if state is None:
            raise SessionNotFound()
        title = state.get("title") or ""
        if not title and first_user is not None:
            title = title_from(first_user.content, max_chars=settings.CHAT_TITLE_MAX_CHARS)
            sessions.update_one(
                _owned(session),
                {"$set": {"title": title, "search_terms": search.terms_for(title)}},
                session=txn,
            )
        first_order = int(state["message_count"]) - len(messages) + 1
        for offset, message in enumerate(messages):
            message.order = first_order + offset
        collection.insert_many([documents.to_document(message) for message in messages], session=txn)
        if usage is not None:
            usage.message_id = usage.message.pk  # assigned by to_document() above
            documents.collection(TokenUsage).insert_one(documents.to_document(usage), session=txn)
        return int(state["message_count"]), title

    for message in messages:
        message.pk = None
    try:
        count, title = documents.run_transaction(write)
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
        documents.mark_saved(usage)
    return [documents.mark_saved(message) for message in messages]


def _is_duplicate_key(exc: DuplicateKeyError | BulkWriteError) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    return all(error.get("code") == 11000 for error in exc.details.get("writeErrors", [])) and bool(
        exc.details.get("writeErrors")
    )


def _already_stored(session: ChatSession, messages: list[ChatMessage]) -> list[ChatMessage] | None:
    """The stored copies when every message id was written before (a replay), else None."""
    from chats import selectors

    ids = [message.message_id for message in messages]
    stored = {
        message.message_id: message
        for message in selectors.messages_by_id(user_id=session.user_id, message_ids=ids)
        if message.session_id == session.pk
    }
    if len(stored) != len(ids):
        return None
    return [stored[message_id] for message_id in ids]


# --- votes ---------------------------------------------------------------------------------------------


def vote(*, message: ChatMessage, user_id: int, vote_type: str, reason: str = "") -> MessageVote:
    """One vote per user per message; voting again changes it."""
    if vote_type not in VoteType.values:
        raise InvalidChatInput("vote_type must be 'up' or 'down'.")
    if reason:
        validate_text(reason, what="reason", max_chars=500)
    moment = documents.now()
    owned = {"user_id": Int64(user_id), "message_id": message.pk}
    change = {
        "$set": {"vote_type": vote_type, "reason": reason, "updated_at": moment},
        "$setOnInsert": {"_id": ObjectId(), "session_id": message.session_id, "created_at": moment},
    }
    votes = documents.collection(MessageVote)
    try:  # update_one, not find_one_and_update: see _insert_messages
        votes.update_one(owned, change, upsert=True)
    except DuplicateKeyError:  # a concurrent first vote won the insert: now it is an update
        votes.update_one(owned, change)
    return MessageVote.objects.get(user_id=user_id, message_id=message.pk)


def unvote(*, message: ChatMessage, user_id: int) -> bool:
    result = documents.collection(MessageVote).delete_one(
        {"user_id": Int64(user_id), "message_id": message.pk}
    )
    return result.deleted_count == 1


# --- statistics ---------------------------------------------------------------------------------------


def compute_daily_stats(*, day: date) -> DailyChatStats:
    """Recompute one UTC day's totals; running it twice gives the same row."""
    from chats import selectors

    totals = selectors.totals_for_day(day=day)
    stats, _ = DailyChatStats.objects.update_or_create(
        date=day, defaults={**totals, "computed_at": timezone.now()}
    )
    return stats


def _owned(session: ChatSession) -> dict[str, Any]:
    return {"_id": session.pk, "user_id": Int64(session.user_id)}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


# --- retention ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CleanupReport:
    purged_sessions: int
    purged_messages: int
    retained_sessions: int
    retention_action: str
    dry_run: bool


@unscoped("background: retention cleanup across every user")
def cleanup_chats(*, days_old: int | None = None, dry_run: bool = False) -> CleanupReport:
    """Purge sessions soft-deleted over CHAT_SOFT_DELETE_DAYS ago and apply retention to inactive ones.

    ``days_old`` (else CHAT_RETENTION_DAYS; 0 = keep forever) selects sessions not updated for that
    long; CHAT_RETENTION_ACTION archives or purges them. Legal-hold sessions are never touched.
    Idempotent: a second run finds nothing more to do. A background job across all users.
    """
    moment = timezone.now()
    sessions = documents.collection(ChatSession)
    soft_cutoff = moment - timedelta(days=settings.CHAT_SOFT_DELETE_DAYS)
    purge: list[dict[str, Any]] = [{"deleted_at": {"$lt": soft_cutoff}, "legal_hold": False}]
    days = settings.CHAT_RETENTION_DAYS if days_old is None else days_old
    if days < 0:
        raise InvalidChatInput("days_old must be zero or more.")
    action = settings.CHAT_RETENTION_ACTION
    inactive = {"updated_at": {"$lt": moment - timedelta(days=days)}, "deleted_at": None, "legal_hold": False}
    retained = 0
    if days:
        if action == "purge":
            purge.append(inactive)
        else:
            inactive["is_archived"] = False
            retained = (
                sessions.count_documents(inactive)
                if dry_run
                else sessions.update_many(
                    inactive, {"$set": {"is_archived": True, "is_active": False}}
                ).modified_count
            )
    purged = DeletedCounts()
    for condition in purge:
        for document in sessions.find(
            condition, {"_id": 1, "user_id": 1, "session_id": 1, "message_count": 1}
        ):
            if dry_run:
                purged += DeletedCounts(sessions=1, messages=int(document.get("message_count", 0)))
                continue
            victim = ChatSession(
                pk=document["_id"], user_id=int(document["user_id"]), session_id=document["session_id"]
            )
            purged += delete_session_permanently(session=victim)
    return CleanupReport(
        purged_sessions=purged.sessions,
        purged_messages=purged.messages,
        retained_sessions=retained,
        retention_action=action if days else "none",
        dry_run=dry_run,
    )
