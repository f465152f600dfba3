"""Reads of messages: pages by gap-free order ranges, one by id, the latest exchanges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import Int64

from chats.exceptions import InvalidChatInput, MessageNotFound
from chats.models import ChatMessage, ChatSession, Role
from chats.selectors.query import aggregate, page_size


@dataclass(frozen=True)
class MessagePage:
    items: list[ChatMessage]
    has_older: bool
    has_newer: bool

    @property
    def older_cursor(self) -> int | None:
        return self.items[0].order if self.items and self.has_older else None

    @property
    def newer_cursor(self) -> int | None:
        return self.items[-1].order if self.items and self.has_newer else None


def message_page(
    *, session: ChatSession, limit: int | None = None, before: int | None = None, after: int | None = None
) -> MessagePage:
    """The newest ``limit`` messages, or ``limit`` before/after an order number, oldest first.

    One range query on ``(user_id, session, order)``: orders are gap-free 1..message_count.
    """
    size = page_size(limit, default=50)
    if before is not None and after is not None:
        raise InvalidChatInput("give either before or after, not both.")
    total = session.message_count
    if before is not None:
        high, low = before - 1, max(1, before - size)
    elif after is not None:
        low, high = after + 1, min(total, after + size)
    else:
        high, low = total, max(1, total - size + 1)
    if high < low:
        return MessagePage(items=[], has_older=low > 1 and total > 0, has_newer=high < total)
    items = messages_in_range(session=session, low=low, high=high)
    return MessagePage(items=items, has_older=low > 1, has_newer=high < total)


def messages_in_range(*, session: ChatSession, low: int, high: int) -> list[ChatMessage]:
    """Messages ``low..high`` of a session, oldest first: one range on ``(user_id, session, order)``."""
    return aggregate(
        ChatMessage,
        {"user_id": Int64(session.user_id), "session_id": session.pk, "order": {"$gte": low, "$lte": high}},
        sort={"order": 1},
    )


def iter_session_messages(*, session: ChatSession, batch: int = 500) -> Iterator[ChatMessage]:
    """Every message of a session in order, fetched in bounded ranges (exports)."""
    low = 1
    while low <= session.message_count:
        yield from messages_in_range(session=session, low=low, high=low + batch - 1)
        low += batch


def get_message(*, user_id: int, message_id: str) -> ChatMessage:
    """The caller's message (its session not deleted), or MessageNotFound."""
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 64:
        raise MessageNotFound()
    found = aggregate(ChatMessage, {"user_id": Int64(user_id), "message_id": message_id}, limit=1)
    if not found:
        raise MessageNotFound()
    sessions = aggregate(ChatSession, {"user_id": Int64(user_id), "_id": found[0].session_id}, limit=1)
    if not sessions or sessions[0].user_id != user_id or sessions[0].deleted_at is not None:
        raise MessageNotFound()
    found[0].session = sessions[0]
    return found[0]


def messages_by_id(*, user_id: int, message_ids: list[str]) -> list[ChatMessage]:
    return aggregate(ChatMessage, {"user_id": Int64(user_id), "message_id": {"$in": message_ids}})


def latest_exchanges(*, user_id: int, limit: int) -> list[dict[str, Any]]:
    """The user's latest question/answer pairs across sessions, newest first.

    Each user message is paired with the assistant message that follows it (order + 1).
    """
    size = page_size(limit)
    questions = aggregate(
        ChatMessage,
        {"user_id": Int64(user_id)},
        {"role": Role.USER},
        sort={"created_at": -1, "_id": -1},
        limit=size,
    )
    if not questions:
        return []
    wanted = {(q.session_id, q.order + 1) for q in questions}
    answers = {
        (answer.session_id, answer.order): answer
        for answer in aggregate(
            ChatMessage,
            {
                "user_id": Int64(user_id),
                "session_id": {"$in": list({q.session_id for q in questions})},
                "order": {"$in": sorted({q.order + 1 for q in questions})},
            },
        )
        if answer.role == Role.ASSISTANT and (answer.session_id, answer.order) in wanted
    }
    sessions = {
        session.pk: session
        for session in aggregate(
            ChatSession, {"user_id": Int64(user_id), "_id": {"$in": list({q.session_id for q in questions})}}
        )
        if session.deleted_at is None
    }
    return [
        {
            "conversation_id": sessions[q.session_id].session_id,
            "message": q.content,
            "response": answers[(q.session_id, q.order + 1)].content
            if (q.session_id, q.order + 1) in answers
            else None,
            "timestamp": q.created_at,
        }
        for q in questions
        if q.session_id in sessions
    ]
