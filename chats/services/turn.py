"""The chat turn: the one owner of "a user says something, the assistant answers", for every channel.

JSON and streamed HTTP, the web page and WhatsApp (``channel``) all go through ``run_turn`` or
``stream_turn``; views and tasks only translate. A turn:

1. fixes its ids and time before the first write (a write that times out may still have committed,
   and a replay with the same ids is a no-op thanks to the unique indexes);
2. stores the user's message before the provider is called, so it survives any provider failure;
3. asks the responder with the conversation's recent history and the patient's EHR summary;
4. stores the reply and its token usage in one transaction (a failed reply as a failed message);
5. while MongoDB is unreachable — or the session still has queued writes — queues the whole turn
   in the outbox (MySQL) instead, with the history from the recent-history cache, and after a
   turn that reached MongoDB wakes the outbox up;
6. keeps the turn's messages in the recent-history cache (``chats.recent_history``), one round trip.

A Celery task calls it with ids only::

    run_turn(user_id=42, session_id=None, text="Hello", channel=Channel.WHATSAPP)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from pymongo.errors import PyMongoError

from chats import branches, builders, recent_history, selectors, store
from chats.exceptions import InvalidChatInput, ReplyFailed, SessionNotFound, StoreUnavailable
from chats.models import Channel, ChatMessage, ChatSession, Role, TokenUsage
from chats.outbox import services as outbox
from chats.responders.base import EhrSummary, Reply, Responder, ResponderError, Turn
from chats.services import stops
from chats.services.branches import remember_active_path
from chats.services.messages import append_message, record_reply
from chats.services.sessions import start_session
from chats.services.validation import validate_text
from medibot import metrics

logger = logging.getLogger(__name__)

HISTORY_TURNS = 20
FAILED_DETAIL = "The assistant could not answer right now; your message was saved. Please try again."
REVISE_UNAVAILABLE = (
    "Chat storage is temporarily unavailable: editing and regenerating need it. Please try again shortly."
)


@dataclass(frozen=True)
class TurnResult:
    """What one chat turn stored — or queued in the outbox (``queued``) while MongoDB is down."""

    session: ChatSession
    user_message: ChatMessage
    assistant_message: ChatMessage
    usage: TokenUsage | None
    queued: bool = False


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: ``token`` (a text chunk), ``done`` or ``stopped`` (ids) or ``error``."""

    event: str
    data: dict[str, object]


@dataclass(frozen=True)
class StreamedTurn:
    """A streamed turn: the user's message is stored and ``events`` yields the reply as it comes —
    or MongoDB is down and the whole turn went to the outbox (``queued``, ``events`` empty)."""

    session_id: str
    events: Iterator[StreamEvent]
    queued: TurnResult | None = None


@dataclass(frozen=True)
class TurnIds:
    """The public ids and time of one turn, chosen before anything is written."""

    session_id: str | None = None  # for a new session
    user_message_id: str = field(default_factory=builders.new_id)
    assistant_message_id: str = field(default_factory=builders.new_id)
    asked_at: datetime = field(default_factory=store.now)

    @classmethod
    def for_session(cls, session_id: str | None) -> TurnIds:
        """Ids for a turn in ``session_id``, or in a new session (with its id) when None."""
        return cls(session_id=None if session_id else builders.new_id())


class StorageDown(Exception):
    """MongoDB is unreachable: the turn is queued in the outbox instead."""


def run_turn(
    *,
    user_id: int,
    session_id: str | None,
    text: str,
    channel: str = Channel.WEB,
    responder: Responder | None = None,
    language: str | None = None,
) -> TurnResult:
    """One complete chat turn (JSON API, web page, WhatsApp, a Celery task).

    ``language``: the user's fixed search language (``User.fixed_search_language``), which both
    messages and a title given from the question are stemmed in; None detects it per message.
    Raises ``ReplyFailed`` (502) when the provider fails — the user's message and a failed
    assistant message are stored; ``SessionNotFound`` for someone else's or a deleted session.
    """
    return _Turn(
        user_id=user_id,
        session_id=session_id,
        text=text,
        channel=channel,
        responder=responder,
        language=language,
    ).run()


def stream_turn(
    *,
    user_id: int,
    session_id: str | None,
    text: str,
    channel: str = Channel.WEB,
    responder: Responder | None = None,
    language: str | None = None,
) -> StreamedTurn:
    """The turn with the reply streamed: the user's message is stored before this returns. A stop
    request (``chats.services.stops``, checked between chunks) or the consumer leaving early (client
    disconnect) closes the provider's stream and stores the text so far with status ``stopped``."""
    return _Turn(
        user_id=user_id,
        session_id=session_id,
        text=text,
        channel=channel,
        responder=responder,
        language=language,
    ).stream()


def regenerate_turn(
    *, user_id: int, message_id: str, responder: Responder | None = None, language: str | None = None
) -> TurnResult:
    """A new reply to the question ``message_id`` (one of the caller's assistant replies) answered:
    stored as its sibling on a new branch, which becomes active; the responder sees the path up to
    the question. MessageNotFound for someone else's message; InvalidChatInput for a user message."""
    return _Turn.revising(
        user_id=user_id, message_id=message_id, text=None, responder=responder, language=language
    ).run()


def stream_regenerate(
    *, user_id: int, message_id: str, responder: Responder | None = None, language: str | None = None
) -> StreamedTurn:
    """``regenerate_turn`` with the reply streamed (as ``stream_turn``)."""
    return _Turn.revising(
        user_id=user_id, message_id=message_id, text=None, responder=responder, language=language
    ).stream()


def edit_turn(
    *,
    user_id: int,
    message_id: str,
    text: str,
    responder: Responder | None = None,
    language: str | None = None,
) -> TurnResult:
    """The caller's message ``message_id`` edited and resent: ``text`` is stored as its sibling on
    a new branch, which becomes active, and answered there."""
    return _Turn.revising(
        user_id=user_id, message_id=message_id, text=text, responder=responder, language=language
    ).run()


def stream_edit(
    *,
    user_id: int,
    message_id: str,
    text: str,
    responder: Responder | None = None,
    language: str | None = None,
) -> StreamedTurn:
    """``edit_turn`` with the reply streamed (as ``stream_turn``)."""
    return _Turn.revising(
        user_id=user_id, message_id=message_id, text=text, responder=responder, language=language
    ).stream()


class _Turn:
    def __init__(
        self,
        *,
        user_id: int,
        session_id: str | None,
        text: str,
        channel: str,
        responder: Responder | None,
        revised: ChatMessage | None = None,
        language: str | None = None,
    ) -> None:
        validate_text(text)
        self.user_id = user_id
        self.language = language
        self.session_id = session_id
        self.text = text
        self.channel = channel
        self.ids = TurnIds.for_session(session_id)
        self._responder = responder
        # An edit (a user message) or a regeneration (an assistant reply): a new sibling of it.
        self.revised = revised
        self.session_queued, self.outbox_waiting = outbox.pending_state(
            user_id=user_id, session_id=session_id
        )

    @classmethod
    def revising(
        cls,
        *,
        user_id: int,
        message_id: str,
        text: str | None,
        responder: Responder | None,
        language: str | None = None,
    ) -> _Turn:
        """The turn that edits (``text``) or regenerates (None) the caller's message ``message_id``."""
        try:
            revised = selectors.get_message(user_id=user_id, message_id=message_id)
        except PyMongoError as exc:
            if store.is_outage(exc):
                raise StoreUnavailable(REVISE_UNAVAILABLE) from exc
            raise
        session: ChatSession = revised.session
        wanted = Role.USER if text is not None else Role.ASSISTANT
        if revised.role != wanted:
            raise InvalidChatInput(
                "only your own messages can be edited."
                if text is not None
                else "only replies can be regenerated."
            )
        if text is None:
            question = _question_of(revised)
            text = question.content
        turn = cls(
            user_id=user_id,
            session_id=session.session_id,
            text=text,
            channel=session.channel,
            responder=responder,
            revised=revised,
            language=language,
        )
        if turn.session_queued:
            raise StoreUnavailable(REVISE_UNAVAILABLE)
        return turn

    @property
    def regenerating(self) -> bool:
        return self.revised is not None and self.revised.role == Role.ASSISTANT

    @property
    def responder(self) -> Responder:
        if self._responder is None:
            from chats.responders.registry import get_responder

            self._responder = get_responder()
        return self._responder

    def ehr(self) -> EhrSummary:
        from ehr.selectors import ehr_summary_for

        return ehr_summary_for(self.user_id)

    # --- complete turn ---------------------------------------------------------------------------------

    def run(self) -> TurnResult:
        opened = self.open()
        if opened is None:
            return self.queue()
        session, question, history = opened
        try:
            reply = self.responder.reply(history=history, message=self.text, ehr=self.ehr())
        except ResponderError as error:
            raise self.failed(session, question, error) from error
        try:
            answer, usage = self.store_reply(session, question, reply)
        except PyMongoError as exc:
            if not store.is_outage(exc):
                raise
            answer = self.queue_reply(session, question, reply)
            self.remember(session, [question], [answer])
            return TurnResult(session, question, answer, usage=None, queued=True)
        self.remember(session, [question, answer])
        self.wake_outbox()
        metrics.record_chat_turn("stored")
        return TurnResult(session=session, user_message=question, assistant_message=answer, usage=usage)

    # --- streamed turn ---------------------------------------------------------------------------------

    def stream(self) -> StreamedTurn:
        opened = self.open()
        if opened is None:
            return self.queued_stream()
        session, question, history = opened
        ehr = self.ehr()
        stops.clear_stop(user_id=self.user_id, session_id=session.session_id)  # an earlier, late press
        return StreamedTurn(
            session_id=session.session_id, events=self.events(session, question, history, ehr)
        )

    def queued_stream(self) -> StreamedTurn:
        queued = self.queue()
        return StreamedTurn(session_id=queued.session.session_id, events=iter(()), queued=queued)

    def events(
        self, session: ChatSession, question: ChatMessage, history: list[Turn], ehr: EhrSummary
    ) -> Iterator[StreamEvent]:
        chunks = self.responder.stream(history=history, message=self.text, ehr=ehr)
        reply: Reply | None = None
        parts: list[str] = []
        stored = False
        try:
            for chunk in chunks:
                if isinstance(chunk, Reply):
                    reply = chunk
                    continue
                parts.append(chunk)
                yield StreamEvent("token", {"text": chunk})
                if stops.stop_requested(user_id=self.user_id, session_id=session.session_id):
                    stored = True
                    stopped = self.store_stopped(session, question, chunks, parts, history)
                    if stopped is not None:
                        yield stopped
                    return
            if reply is None:
                raise ResponderError("the provider ended without a final reply", code="provider_malformed")
            answer, usage, queued = self.store_streamed_reply(session, question, reply)
            stored = True
            if not queued:
                self.wake_outbox()
                metrics.record_chat_turn("stored")
            yield StreamEvent("done", self.ids_of(session, question, answer, usage, queued=queued))
        except ResponderError as error:
            failure = self.failed(session, question, error)
            stored = True
            yield StreamEvent("error", {"detail": failure.message, **failure.extra})
        finally:
            if not stored:  # the client went away mid-stream (or the loop broke): what came is kept
                self.store_stopped(session, question, chunks, parts, history)

    def ids_of(
        self,
        session: ChatSession,
        question: ChatMessage,
        answer: ChatMessage,
        usage: TokenUsage | None,
        *,
        queued: bool,
    ) -> dict[str, object]:
        return {
            "session_id": session.session_id,
            "conversation_id": session.session_id,
            "user_message_id": question.message_id,
            "assistant_message_id": answer.message_id,
            "total_tokens": usage.total_tokens if usage else 0,
            "queued": queued,
        }

    def store_stopped(
        self,
        session: ChatSession,
        question: ChatMessage,
        chunks: Iterator[str | Reply],
        parts: list[str],
        history: list[Turn],
    ) -> StreamEvent | None:
        """The reply stopped (a stop request, or the client left): close the provider's stream —
        its upstream request — and store the text so far as a ``stopped`` reply with its tokens as
        far as known. None when the session was deleted meanwhile (nothing left to store into)."""
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        stops.clear_stop(user_id=self.user_id, session_id=session.session_id)
        prompt = "\n".join([*(turn.content for turn in history), self.text])
        reply = builders.stopped_reply(content="".join(parts), prompt=prompt)
        try:
            answer, usage, queued = self.store_streamed_reply(session, question, reply)
        except SessionNotFound:
            logger.info("session deleted during a streamed reply", extra={"session_id": session.session_id})
            return None
        logger.info(
            "streamed reply stopped",
            extra={"session_id": session.session_id, "message_id": answer.message_id},
        )
        metrics.record_chat_turn("stopped")
        return StreamEvent("stopped", self.ids_of(session, question, answer, usage, queued=queued))

    # --- steps -------------------------------------------------------------------------------------------

    def open(self) -> tuple[ChatSession, ChatMessage, list[Turn]] | None:
        """The session, the user's stored message and the history before it; None when the turn
        goes to the outbox (MongoDB unreachable, or this session's earlier writes still queued)."""
        if self.session_queued:
            return None
        if self.revised is not None:
            return self.open_revision(self.revised)
        try:
            session, question = self.store_question()
            return session, question, self.history(session)
        except StorageDown:
            return None

    def open_revision(self, revised: ChatMessage) -> tuple[ChatSession, ChatMessage, list[Turn]]:
        """An edit stores the new text as the edited message's sibling (a new active branch); a
        regeneration reads the question. No outbox: a fork cannot wait in a queue (503 instead)."""
        session: ChatSession = revised.session
        try:
            if self.regenerating:
                question = _question_of(revised)
            else:
                question = append_message(
                    session=session,
                    role=Role.USER,
                    content=self.text,
                    message_id=self.ids.user_message_id,
                    created_at=self.ids.asked_at,
                    fork_of=revised,
                    language=self.language,
                )
            low = max(1, question.order - HISTORY_TURNS + 1)
            before = selectors.messages_in_range(
                session=session, low=low, high=question.order - 1, leaf=question.branch
            )
        except PyMongoError as exc:
            if store.is_outage(exc):
                raise StoreUnavailable(REVISE_UNAVAILABLE) from exc
            raise
        return session, question, [Turn(role=message.role, content=message.content) for message in before]

    def store_question(self) -> tuple[ChatSession, ChatMessage]:
        """Open the session (or start it with the turn's id) and store the user's message; raises
        StorageDown while MongoDB is unreachable."""
        try:
            if self.session_id:
                session = selectors.get_session(user_id=self.user_id, session_id=self.session_id)
            else:
                session = start_session(
                    user_id=self.user_id,
                    channel=self.channel,
                    session_id=self.ids.session_id,
                    language=self.language,
                )
            question = append_message(
                session=session,
                role=Role.USER,
                content=self.text,
                message_id=self.ids.user_message_id,
                created_at=self.ids.asked_at,
                language=self.language,
            )
        except PyMongoError as exc:
            if store.is_outage(exc):
                raise StorageDown() from exc
            raise
        return session, question

    def history(self, session: ChatSession) -> list[Turn]:
        """The messages before the user's (which is stored): what the responder sees."""
        try:
            page = selectors.message_page(session=session, limit=HISTORY_TURNS)
        except PyMongoError as exc:
            if store.is_outage(exc):  # the question is stored: the queued turn reuses its ids
                raise StorageDown() from exc
            raise
        return [Turn(role=message.role, content=message.content) for message in page.items[:-1]]

    def store_reply(
        self, session: ChatSession, question: ChatMessage, reply: Reply
    ) -> tuple[ChatMessage, TokenUsage | None]:
        if self.regenerating:
            try:
                return record_reply(
                    session=session,
                    reply=reply,
                    parent_message_id=question.message_id,
                    message_id=self.ids.assistant_message_id,
                    fork_of=self.revised,
                    language=self.language,
                )
            except PyMongoError as exc:  # a regenerated reply cannot be queued behind the tip
                if store.is_outage(exc):
                    raise StoreUnavailable(REVISE_UNAVAILABLE) from exc
                raise
        return record_reply(
            session=session,
            reply=reply,
            parent_message_id=question.message_id,
            message_id=self.ids.assistant_message_id,
            language=self.language,
        )

    def remember(
        self, session: ChatSession, stored: list[ChatMessage], queued: list[ChatMessage] | None = None
    ) -> None:
        """Keep the turn in the recent-history cache; an edit or a regeneration changed the
        active path, so the cache is replaced by the new path's newest messages."""
        if self.revised is not None and not queued:
            remember_active_path(session=session)
            return
        if self.revised is not None:  # MongoDB went down after the edit was stored: what is known
            recent_history.replace_session(session=session, stored=stored)
            stored = []
        recent_history.remember_turn(session=session, stored=stored, queued=queued or [])

    def store_streamed_reply(
        self, session: ChatSession, question: ChatMessage, reply: Reply
    ) -> tuple[ChatMessage, TokenUsage | None, bool]:
        """Store a finished streamed reply; while MongoDB is unreachable queue it instead (same id:
        a commit that timed out but went through and the queued copy are one document)."""
        try:
            answer, usage = self.store_reply(session, question, reply)
        except PyMongoError as exc:
            if not store.is_outage(exc):
                raise
            logger.warning("streamed reply queued in the outbox", extra={"session_id": session.session_id})
            answer = self.queue_reply(session, question, reply)
            self.remember(session, [question], [answer])
            return answer, None, True
        self.remember(session, [question, answer])
        return answer, usage, False

    def failed(self, session: ChatSession, question: ChatMessage, error: ResponderError) -> ReplyFailed:
        failed, _ = self.store_reply(session, question, builders.failed_reply(error.code))
        self.remember(session, [question, failed])
        logger.warning(
            "chat reply failed",
            extra={"session_id": session.session_id, "message_id": failed.message_id, "code": error.code},
        )
        metrics.record_chat_turn("failed")
        return ReplyFailed(
            FAILED_DETAIL,
            session_id=session.session_id,
            user_message_id=question.message_id,
            assistant_message_id=failed.message_id,
        )

    def wake_outbox(self) -> None:
        """MongoDB just answered: if writes were queued, ask a worker to deliver them now."""
        if not self.outbox_waiting:
            return
        from chats import tasks

        tasks.enqueue_outbox_sync()

    # --- the outbox (MongoDB down) ------------------------------------------------------------------------

    def queue(self) -> TurnResult:
        """The turn without MongoDB: the turn's ids (a failed attempt may have committed with them),
        writes kept in the outbox (MySQL). The responder gets the history from the recent-history
        cache and the session's queued entries (the same turns MongoDB would give, read before the
        user's message is queued); the reply is queued behind the user's message to keep the order."""
        ids = self.ids
        history = self.cached_history(self.session_id) if self.session_id else []
        session = builders.session(
            user_id=self.user_id,
            session_id=self.session_id or ids.session_id,
            channel=self.channel,
            created_at=ids.asked_at,
            language=self.language,
        )
        question = builders.message(
            session=session,
            role=Role.USER,
            content=self.text,
            message_id=ids.user_message_id,
            created_at=ids.asked_at,
            language=self.language,
        )
        with transaction.atomic():
            if not self.session_id:
                outbox.enqueue_session(
                    user_id=self.user_id,
                    session_id=session.session_id,
                    channel=self.channel,
                    created_at=ids.asked_at,
                )
            outbox.enqueue_message(
                user_id=self.user_id,
                session_id=session.session_id,
                message_id=question.message_id,
                role=Role.USER,
                content=self.text,
                created_at=ids.asked_at,
            )
        try:
            reply = self.responder.reply(history=history, message=self.text, ehr=self.ehr())
        except ResponderError as error:
            reply = builders.failed_reply(error.code)
        answer = self.queue_reply(session, question, reply)
        recent_history.remember_turn(
            session=session, queued=[question, answer], new_session=not self.session_id
        )
        logger.warning("chat turn queued in the outbox", extra={"session_id": session.session_id})
        return TurnResult(
            session=session, user_message=question, assistant_message=answer, usage=None, queued=True
        )

    def cached_history(self, session_id: str) -> list[Turn]:
        """What ``history`` would read from MongoDB — the HISTORY_TURNS - 1 messages before the
        user's — from the recent-history cache merged with the outbox."""
        cached = recent_history.history(user_id=self.user_id, session_id=session_id, limit=HISTORY_TURNS - 1)
        return [Turn(role=message.role, content=message.content) for message in cached]

    def queue_reply(self, session: ChatSession, question: ChatMessage, reply: Reply) -> ChatMessage:
        answer = builders.reply_message(
            session=session,
            reply=reply,
            message_id=self.ids.assistant_message_id,
            parent_message_id=question.message_id,
            language=self.language,
        )
        outbox.enqueue_reply(
            user_id=session.user_id,
            session_id=session.session_id,
            message_id=answer.message_id,
            parent_message_id=question.message_id,
            reply=reply,
            created_at=answer.created_at,
        )
        metrics.record_chat_turn("queued")
        return answer


def _question_of(reply: ChatMessage) -> ChatMessage:
    """The user message a stored reply answers: the message before it on its path."""
    session: ChatSession = reply.session
    table = branches.of_session(session)
    branch, order = branches.parent_position(table, reply.branch, reply.order)
    found = selectors.messages_at(session=session, positions=[(branch, order)]) if order else []
    if not found or found[0].role != Role.USER:
        raise InvalidChatInput("this reply does not answer one of your messages.")
    found[0].session = session
    return found[0]
