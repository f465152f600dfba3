"""A chat turn: store the user's message, ask the responder, store its reply.

The user's message is stored before the provider is called, so it survives any provider
failure; a failed reply is stored as a failed assistant message with its ``error_info``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from pymongo.errors import PyMongoError

from chats import selectors, services, store
from chats.exceptions import ReplyFailed, SessionNotFound
from chats.models import Channel, ChatMessage, ChatSession, MessageStatus, TokenUsage
from chats.outbox import services as outbox
from chats.responders.base import EhrSummary, Responder, ResponderError, Turn

logger = logging.getLogger(__name__)

HISTORY_TURNS = 20


@dataclass(frozen=True)
class TurnResult:
    """What one chat turn stored — or queued in the outbox (``queued``) while MongoDB is down."""

    session: ChatSession
    user_message: ChatMessage
    assistant_message: ChatMessage
    usage: TokenUsage | None
    queued: bool = False


def default_responder() -> Responder:
    from chats.responders.registry import get_responder

    return get_responder()


def ehr_summary(*, user_id: int) -> EhrSummary:
    from ehr.selectors import ehr_summary_for

    return ehr_summary_for(user_id)


def open_session(
    *, user_id: int, session_id: str | None, channel: str = Channel.WEB, new_session_id: str | None = None
) -> ChatSession:
    """The caller's session by id, or a new one (with ``new_session_id`` when given) when no id is given."""
    if session_id:
        return selectors.get_session(user_id=user_id, session_id=session_id)
    return services.start_session(user_id=user_id, channel=channel, session_id=new_session_id)


def _history(session: ChatSession) -> list[Turn]:
    page = selectors.message_page(session=session, limit=HISTORY_TURNS)
    return [Turn(role=message.role, content=message.content) for message in page.items[:-1]]


def _failed(session: ChatSession, user_message: ChatMessage, error: ResponderError) -> ReplyFailed:
    failed, _ = services.record_reply(
        session=session,
        reply=services.Reply(
            content="",
            status=MessageStatus.FAILED,
            error_info={"code": error.code},
        ),
        parent_message_id=user_message.message_id,
    )
    logger.warning(
        "chat reply failed",
        extra={"session_id": session.session_id, "message_id": failed.message_id, "code": error.code},
    )
    return ReplyFailed(
        "The assistant could not answer right now; your message was saved. Please try again.",
        session_id=session.session_id,
        user_message_id=user_message.message_id,
        assistant_message_id=failed.message_id,
    )


def _store_question(
    *, user_id: int, message: str, session_id: str | None, channel: str
) -> tuple[ChatSession, ChatMessage]:
    """Open the session and store the user's message, or raise StorageDown with the turn's ids.

    Ids and times are fixed before each write: a write that times out may still have committed
    (an ambiguous commit), and the outbox then delivers the same ids, which the unique indexes
    turn into a no-op instead of a second copy.
    """
    ids = _TurnIds.for_session(session_id)
    try:
        session = open_session(
            user_id=user_id, session_id=session_id, channel=channel, new_session_id=ids.session_id
        )
        user_message = services.append_message(
            session=session,
            role="user",
            content=message,
            message_id=ids.user_message_id,
            created_at=ids.asked_at,
        )
    except PyMongoError as exc:
        if store.is_outage(exc):
            raise StorageDown(ids) from exc
        raise
    return session, user_message


def converse(
    *,
    user_id: int,
    message: str,
    session_id: str | None = None,
    channel: str = Channel.WEB,
    responder: Responder | None = None,
) -> TurnResult:
    """One chat turn. While MongoDB is unreachable — or this session still has queued writes —
    the turn goes to the outbox instead and ``TurnResult.queued`` is true; nothing is lost."""
    services.validate_text(message)
    if session_id and outbox.has_pending(user_id=user_id, session_id=session_id):
        return converse_queued(user_id=user_id, message=message, session_id=session_id, responder=responder)
    try:
        session, user_message = _store_question(
            user_id=user_id, message=message, session_id=session_id, channel=channel
        )
    except StorageDown as down:
        return converse_queued(
            user_id=user_id,
            message=message,
            session_id=session_id,
            channel=channel,
            responder=responder,
            ids=down.ids,
        )
    bot = responder or default_responder()
    try:
        reply = bot.reply(history=_history(session), message=message, ehr=ehr_summary(user_id=user_id))
    except ResponderError as error:
        raise _failed(session, user_message, error) from error
    answered_at, reply_id = store.now(), str(uuid.uuid4())  # fixed before the write, as in _store_question
    try:
        assistant, usage = services.record_reply(
            session=session,
            reply=reply,
            parent_message_id=user_message.message_id,
            message_id=reply_id,
            created_at=answered_at,
        )
    except PyMongoError as exc:
        if not store.is_outage(exc):
            raise
        assistant = _queue_reply(
            session=session,
            user_message=user_message,
            reply=reply,
            message_id=reply_id,
            created_at=answered_at,
        )
        return TurnResult(session, user_message, assistant, usage=None, queued=True)
    _wake_outbox()
    return TurnResult(session=session, user_message=user_message, assistant_message=assistant, usage=usage)


@dataclass(frozen=True)
class _TurnIds:
    """The public ids and time of one turn, chosen before anything is written."""

    session_id: str | None = None  # for a new session
    user_message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    assistant_message_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    asked_at: datetime = field(default_factory=store.now)

    @classmethod
    def for_session(cls, session_id: str | None) -> _TurnIds:
        """Ids for a turn in ``session_id``, or in a new session (with its id) when None."""
        return cls(session_id=None if session_id else str(uuid.uuid4()))


def converse_queued(
    *,
    user_id: int,
    message: str,
    session_id: str | None,
    channel: str = Channel.WEB,
    responder: Responder | None = None,
    ids: _TurnIds | None = None,
) -> TurnResult:
    """The turn without MongoDB: ids assigned now (or the ones a failed attempt already used),
    writes kept in the outbox (MySQL).

    The responder answers without the conversation's history (it cannot be read); the reply is
    queued behind the user's message so delivery keeps the session's order.
    """
    ids = ids or _TurnIds.for_session(session_id)
    moment = ids.asked_at
    session = ChatSession(
        session_id=session_id or ids.session_id or str(uuid.uuid4()),
        user_id=user_id,
        channel=channel,
        created_at=moment,
    )
    user_message = ChatMessage(
        message_id=ids.user_message_id,
        session=session,
        user_id=user_id,
        role="user",
        content=message,
        created_at=moment,
        content_hash=services.content_hash(message),
        order=0,
    )
    with transaction.atomic():
        if not session_id:
            outbox.enqueue_session(
                user_id=user_id, session_id=session.session_id, channel=channel, created_at=moment
            )
        outbox.enqueue_message(
            user_id=user_id,
            session_id=session.session_id,
            message_id=user_message.message_id,
            role="user",
            content=message,
            created_at=moment,
        )
    bot = responder or default_responder()
    try:
        reply = bot.reply(history=[], message=message, ehr=ehr_summary(user_id=user_id))
    except ResponderError as error:
        reply = services.Reply(content="", status=MessageStatus.FAILED, error_info={"code": error.code})
    assistant = _queue_reply(
        session=session, user_message=user_message, reply=reply, message_id=ids.assistant_message_id
    )
    logger.warning("chat turn queued in the outbox", extra={"session_id": session.session_id})
    return TurnResult(
        session=session, user_message=user_message, assistant_message=assistant, usage=None, queued=True
    )


def _queue_reply(
    *,
    session: ChatSession,
    user_message: ChatMessage,
    reply: services.Reply,
    message_id: str | None = None,
    created_at: datetime | None = None,
) -> ChatMessage:
    moment = created_at or store.now()
    assistant = ChatMessage(
        message_id=message_id or str(uuid.uuid4()),
        session=session,
        user_id=session.user_id,
        role="assistant",
        content=reply.content or "(no reply)",
        status=reply.status,
        model=reply.model,
        metadata=reply.metadata,
        error_info=reply.error_info,
        parent_message_id=user_message.message_id,
        created_at=moment,
        content_hash=services.content_hash(reply.content or "(no reply)"),
        order=0,
    )
    outbox.enqueue_reply(
        user_id=session.user_id,
        session_id=session.session_id,
        message_id=assistant.message_id,
        parent_message_id=user_message.message_id,
        reply=reply,
        created_at=moment,
    )
    return assistant


def _wake_outbox() -> None:
    """MongoDB just answered: if writes are queued, ask a worker to deliver them now."""
    if not outbox.any_pending():
        return
    from chats import tasks

    tasks.enqueue_outbox_sync()


class StorageDown(Exception):
    """MongoDB is unreachable (or the session has queued writes): the caller should queue the turn,
    with ``ids`` when a write was attempted (it may have committed; the outbox reuses its ids)."""

    def __init__(self, ids: _TurnIds | None = None) -> None:
        super().__init__("chat storage is unavailable")
        self.ids = ids


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: ``token`` (a text chunk), ``done`` (ids) or ``error``."""

    event: str
    data: dict[str, object]


def stream_conversation(
    *,
    user_id: int,
    message: str,
    session_id: str | None = None,
    channel: str = Channel.WEB,
    responder: Responder | None = None,
) -> tuple[ChatSession, Iterator[StreamEvent]]:
    """Validate and store the user message now; stream the reply as it is generated.

    The reply is stored complete even if the consumer stops early (client disconnect): the
    generator drains the provider in its ``finally`` block before storing.
    """
    services.validate_text(message)
    if session_id and outbox.has_pending(user_id=user_id, session_id=session_id):
        raise StorageDown()
    session, user_message = _store_question(
        user_id=user_id, message=message, session_id=session_id, channel=channel
    )
    try:
        history = _history(session)
    except PyMongoError as exc:
        if store.is_outage(exc):  # the message is stored: the queued turn reuses its ids
            stored = _TurnIds(
                session_id=None if session_id else session.session_id,
                user_message_id=user_message.message_id,
                asked_at=user_message.created_at,
            )
            raise StorageDown(stored) from exc
        raise
    bot = responder or default_responder()
    ehr = ehr_summary(user_id=user_id)

    def events() -> Iterator[StreamEvent]:
        chunks = bot.stream(history=history, message=message, ehr=ehr)
        reply: services.Reply | None = None
        stored = False
        try:
            for chunk in chunks:
                if isinstance(chunk, services.Reply):
                    reply = chunk
                else:
                    yield StreamEvent("token", {"text": chunk})
            if reply is None:
                raise ResponderError("the provider ended without a final reply", code="provider_malformed")
            assistant, usage, queued = _store_streamed_reply(session, user_message, reply)
            stored = True
            yield StreamEvent(
                "done",
                {
                    "session_id": session.session_id,
                    "conversation_id": session.session_id,
                    "user_message_id": user_message.message_id,
                    "assistant_message_id": assistant.message_id,
                    "total_tokens": usage.total_tokens if usage else 0,
                    "queued": queued,
                },
            )
        except ResponderError as error:
            failure = _failed(session, user_message, error)
            stored = True
            yield StreamEvent("error", {"detail": failure.message, **failure.extra})
        finally:
            if not stored:
                _finish_after_disconnect(session, user_message, chunks, reply)

    return session, events()


def _store_streamed_reply(
    session: ChatSession, user_message: ChatMessage, reply: services.Reply
) -> tuple[ChatMessage, TokenUsage | None, bool]:
    """Store a finished streamed reply; when MongoDB is unreachable queue it (same id) instead.

    The ids and time are fixed before the write: a commit that timed out but went through and
    the queued copy are then one document, like the non-streamed turn.
    """
    message_id, moment = str(uuid.uuid4()), store.now()
    try:
        assistant, usage = services.record_reply(
            session=session,
            reply=reply,
            parent_message_id=user_message.message_id,
            message_id=message_id,
            created_at=moment,
        )
    except PyMongoError as exc:
        if not store.is_outage(exc):
            raise
        queued = _queue_reply(
            session=session, user_message=user_message, reply=reply, message_id=message_id, created_at=moment
        )
        logger.warning("streamed reply queued in the outbox", extra={"session_id": session.session_id})
        return queued, None, True
    return assistant, usage, False


def _finish_after_disconnect(
    session: ChatSession, user_message: ChatMessage, chunks: Iterator[str | services.Reply], reply: object
) -> None:
    """The client went away mid-stream: let the provider finish and store the whole reply."""
    try:
        for chunk in chunks:
            if isinstance(chunk, services.Reply):
                reply = chunk
        if isinstance(reply, services.Reply):
            _store_streamed_reply(session, user_message, reply)
    except ResponderError as error:
        _failed(session, user_message, error)
    except SessionNotFound:
        logger.info("session deleted during a streamed reply", extra={"session_id": session.session_id})
