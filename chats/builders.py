"""The one builder of chat documents: message, session, token usage and vote.

The live turn, the outbox, the importers, the fake-data generator and the test factories all
build their documents here, so a field or a rule (the content hash, the "(no reply)" text of a
failed reply, a provider's text made storable, the search terms) changes in one place. Builders
check nothing a caller may get wrong: services validate input before they build.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from bson import ObjectId
from django.conf import settings

from chats import crypto, search, store
from chats.models import (
    Channel,
    ChatMessage,
    ChatSession,
    MessageStatus,
    MessageVote,
    Role,
    SessionType,
    TokenUsage,
)
from chats.responders.base import Reply
from chats.responders.offline import estimate_tokens

NO_REPLY = "(no reply)"


def content_hash(content: str) -> str:
    """SHA-256 of the message text (hex): duplicate detection and import verification."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def new_id() -> str:
    """A public id (session or message) chosen before anything is written."""
    return str(uuid.uuid4())


def session(
    *,
    user_id: int,
    session_id: str | None = None,
    title: str = "",
    session_type: str = SessionType.GENERAL,
    channel: str = Channel.WEB,
    tags: Iterable[str] = (),
    metadata: dict[str, Any] | None = None,
    created_at: datetime | None = None,
    pk: ObjectId | None = None,
    is_active: bool = True,
    message_count: int = 0,
    last_message_at: datetime | None = None,
    updated_at: datetime | None = None,
    active_branch: int = 0,
    branches: list[dict[str, Any]] | None = None,
    language: str | None = None,
) -> ChatSession:
    """A session; the importers also fix its ``pk`` and carry its counters, times and branch table
    over (``branches``: the forks, see ``chats.branches``; ``message_count`` counts every branch).
    ``language``: the owner's fixed search language, None to detect the title's."""
    moment = created_at or store.now()
    return ChatSession(
        pk=pk,
        session_id=session_id or new_id(),
        user_id=user_id,
        title=title.strip(),
        session_type=session_type,
        channel=channel,
        is_active=is_active,
        tags=list(tags),
        metadata=metadata or {},
        search_terms=search.document_keys(user_id, title, language),
        message_count=message_count,
        active_branch=active_branch,
        branches=[dict(entry) for entry in branches or []],
        last_message_at=last_message_at,
        created_at=moment,
        updated_at=updated_at or moment,
    )


def message(
    *,
    session: ChatSession,
    role: str,
    content: str,
    message_id: str | None = None,
    created_at: datetime | None = None,
    order: int = 0,
    branch: int = 0,
    status: str = MessageStatus.COMPLETED,
    model: str = "",
    parent_message_id: str = "",
    source_documents: list[dict[str, Any]] | None = None,
    agent_steps: list[Any] | None = None,
    attachments: list[Any] | None = None,
    error_info: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    pk: ObjectId | None = None,
    search_terms: list[str] | None = None,
    language: str | None = None,
) -> ChatMessage:
    """A message with its content hash and search terms; ``order`` and ``branch`` are assigned when
    it is appended (branch 0: the original line of the conversation), its ``search_postings`` when it
    is written (``chats.search_index.index_documents``).

    The importers fix its ``pk`` and may pass ``search_terms`` worked out ahead (``writer.prepare``).
    ``language``: the owner's fixed search language (their profile's), None to detect the text's.
    """
    content = message_content(role=role, status=status, content=content)
    return ChatMessage(
        pk=pk,
        message_id=message_id or new_id(),
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
        metadata=metadata or {},
        parent_message_id=parent_message_id,
        content_hash=content_hash(content),
        search_terms=(
            search.document_keys(session.user_id, content, language) if search_terms is None else search_terms
        ),
        created_at=created_at or store.now(),
        order=order,
        branch=branch,
    )


def fork(*, id: int, parent: int, first: int, tip: int, fork_message_id: str = "") -> dict[str, Any]:
    """One entry of ``ChatSession.branches``: branch ``id`` holds orders ``first..tip``, its first
    message a sibling of the message at ``first`` on ``parent`` (see ``chats.branches``)."""
    return {"id": id, "parent": parent, "first": first, "fork_message_id": fork_message_id, "tip": tip}


def message_content(*, role: str, status: str, content: str) -> str:
    """The text stored for a message: a failed or stopped reply without text says "(no reply)"."""
    if role == Role.ASSISTANT and status == MessageStatus.FAILED and not content:
        return NO_REPLY
    if role == Role.ASSISTANT and status == MessageStatus.STOPPED and not content.strip():
        return NO_REPLY
    return content


def reply_message(
    *,
    session: ChatSession,
    reply: Reply,
    message_id: str | None = None,
    parent_message_id: str = "",
    created_at: datetime | None = None,
    language: str | None = None,
) -> ChatMessage:
    """The assistant message of a responder's reply: the provider's text made storable (NULs
    dropped, invalid Unicode replaced, cut at CHAT_MAX_MESSAGE_CHARS with ``metadata.truncated``:
    the user's message is already stored, refusing the reply would lose it), and "(no reply)"
    for a failed reply without text."""
    content, truncated = provider_text(reply.content)
    metadata = dict(reply.metadata or {})
    if truncated:
        metadata["truncated"] = True
    return message(
        session=session,
        role=Role.ASSISTANT,
        content=content,
        message_id=message_id,
        created_at=created_at,
        status=reply.status,
        model=reply.model,
        parent_message_id=parent_message_id,
        source_documents=reply.source_documents,
        agent_steps=reply.agent_steps,
        error_info=reply.error_info,
        metadata=metadata,
        language=language,
    )


def provider_text(content: str) -> tuple[str, bool]:
    """A provider's text made storable, and whether it was truncated."""
    content = content.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    limit = settings.CHAT_MAX_MESSAGE_CHARS
    if len(content) <= limit:
        return content, False
    return content[:limit], True


def failed_reply(code: str) -> Reply:
    """The reply stored when the provider failed: no text, the error's code kept."""
    return Reply(content="", status=MessageStatus.FAILED, error_info={"code": code})


def stopped_reply(*, content: str, prompt: str) -> Reply:
    """The reply stored when the stream stopped early: the text so far, its tokens estimated (the
    provider reports usage only at the end) from ``prompt`` (what the responder was sent) and the
    text, unpriced; ``metadata.tokens_estimated`` says so."""
    return Reply(
        content=content,
        status=MessageStatus.STOPPED,
        prompt_tokens=estimate_tokens(prompt),
        completion_tokens=estimate_tokens(content),
        metadata={"tokens_estimated": True},
    )


def title_change(*, user_id: int, title: str, language: str | None = None) -> dict[str, Any]:
    """The ``$set`` of a session's title given later (from its first message): the search terms
    come from the plaintext (stemmed in ``language``, None: detected), the stored title is
    encrypted when CHAT_ENCRYPTION is on."""
    return {
        "title": crypto.seal(user_id, title),
        "search_terms": search.document_keys(user_id, title, language),
    }


def token_usage(
    *,
    session: ChatSession,
    message: ChatMessage,
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: Decimal,
) -> TokenUsage:
    return TokenUsage(
        session=session,
        message=message,
        user_id=session.user_id,
        model=model or "unknown",
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        total_tokens=prompt_tokens + completion_tokens,
        cost=cost,
        created_at=message.created_at,
    )


def reply_usage(*, session: ChatSession, message: ChatMessage, reply: Reply) -> TokenUsage | None:
    """The token usage of a stored reply, or None (failed, or the provider reported no tokens)."""
    if reply.status == MessageStatus.FAILED or not (reply.prompt_tokens or reply.completion_tokens):
        return None
    return token_usage(
        session=session,
        message=message,
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost=reply.cost,
    )


def vote_change(
    *, user_id: int, session_pk: Any, vote_type: str, reason: str, moment: datetime
) -> dict[str, Any]:
    """The upsert of one user's vote on one message (its filter is ``{user_id, message_id}``); the
    reason is encrypted under the voter's key when CHAT_ENCRYPTION is on."""
    return {
        "$set": {"vote_type": vote_type, "reason": crypto.seal(user_id, reason), "updated_at": moment},
        "$setOnInsert": {"_id": ObjectId(), "session_id": session_pk, "created_at": moment},
    }


def vote(
    *,
    session: ChatSession,
    message: ChatMessage,
    vote_type: str,
    reason: str = "",
    created_at: datetime,
    updated_at: datetime | None = None,
    pk: ObjectId | None = None,
) -> MessageVote:
    """The owner's vote on one message, as ``services.vote`` stores it (imports keep its times)."""
    return MessageVote(
        pk=pk or ObjectId(),
        message=message,
        session=session,
        user_id=session.user_id,
        vote_type=vote_type,
        reason=reason,
        created_at=created_at,
        updated_at=updated_at or created_at,
    )
