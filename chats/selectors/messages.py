"""Reads of messages: pages by gap-free order ranges, one by id, the latest exchanges."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import Int64

from chats import branches
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
    """The newest ``limit`` messages of the active path, or ``limit`` before/after an order number,
    oldest first.

    Orders are gap-free 1..n along the path, so the window is computed, then read as one exact
    range on ``(user_id, session, branch, order)`` per branch segment it crosses (one for a
    conversation without forks): the documents examined are the page's.
    """
    size = page_size(limit, default=50)
    if before is not None and after is not None:
        raise InvalidChatInput("give either before or after, not both.")
    total = branches.path_length(session)
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


def messages_in_range(
    *, session: ChatSession, low: int, high: int, leaf: int | None = None
) -> list[ChatMessage]:
    """Messages ``low..high`` of the session's active path (or of the path to branch ``leaf``'s
    tip), oldest first: one exact range on ``(user_id, session, branch, order)`` per branch
    segment of the path in that window."""
    table = branches.of_session(session)
    path = branches.path(table, branches.active_of(session) if leaf is None else leaf)
    found: list[ChatMessage] = []
    for segment in branches.window(path, low, high):
        found += aggregate(
            ChatMessage,
            {
                "user_id": Int64(session.user_id),
                "session_id": session.pk,
                "branch": segment.branch,
                "order": {"$gte": segment.low, "$lte": segment.high},
            },
            sort={"order": 1},
        )
    return found


def iter_session_messages(*, session: ChatSession, batch: int = 500) -> Iterator[ChatMessage]:
    """Every message of the session's active path in order, fetched in bounded ranges (exports)."""
    low = 1
    total = branches.path_length(session)
    while low <= total:
        yield from messages_in_range(session=session, low=low, high=low + batch - 1)
        low += batch


def iter_every_message(*, session: ChatSession, batch: int = 500) -> Iterator[ChatMessage]:
    """Every stored message of every branch, branch by branch (0, then the forks in creation
    order) and in order within each: Medibot's re-importable exports. One exact range on
    ``(user_id, session, branch, order)`` per batch of a branch's orders ``first..tip``."""
    for branch in sorted(branches.of_session(session).values(), key=lambda b: b.id):
        low = branch.first
        while low <= branch.tip:
            yield from aggregate(
                ChatMessage,
                {
                    "user_id": Int64(session.user_id),
                    "session_id": session.pk,
                    "branch": branch.id,
                    "order": {"$gte": low, "$lte": min(low + batch - 1, branch.tip)},
                },
                sort={"order": 1},
            )
            low += batch


def messages_at(*, session: ChatSession, positions: list[tuple[int, int]]) -> list[ChatMessage]:
    """The session's messages at the given (branch, order) positions, in that order (missing ones
    left out): per branch one read of exact keys of ``(user_id, session, branch, order)`` (only
    the index's last field may take several values on SecantusDB, or it scans the collection)."""
    orders: dict[int, set[int]] = {}
    for branch, order in positions:
        orders.setdefault(branch, set()).add(order)
    found = {
        (message.branch, message.order): message
        for branch, wanted in sorted(orders.items())
        for message in aggregate(
            ChatMessage,
            {
                "user_id": Int64(session.user_id),
                "session_id": session.pk,
                "branch": branch,
                "order": {"$in": sorted(wanted)},
            },
        )
    }
    return [found[position] for position in positions if position in found]


def message_siblings(*, message: ChatMessage) -> list[ChatMessage]:
    """The message and its siblings (the other answers to, or versions after, the same parent),
    in "< 1/n >" order; ``message.session`` is its session (``get_message`` gives it)."""
    session = message.session
    table = branches.of_session(session)
    held = branches.siblings(table, message.branch, message.order)
    return messages_at(session=session, positions=[(branch, message.order) for branch in held])


def message_children(*, message: ChatMessage) -> list[ChatMessage]:
    """The replies to (or messages after) ``message`` on every branch, in "< 1/n >" order."""
    session = message.session
    table = branches.of_session(session)
    held = branches.children(table, message.branch, message.order)
    return messages_at(session=session, positions=[(branch, message.order + 1) for branch in held])


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

    Each user message on its session's active path is paired with the assistant message that
    follows it on that path (order + 1).
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
    sessions = {
        session.pk: session
        for session in aggregate(
            ChatSession, {"user_id": Int64(user_id), "_id": {"$in": list({q.session_id for q in questions})}}
        )
        if session.deleted_at is None
    }
    paths = {pk: branches.active_path(session) for pk, session in sessions.items()}
    questions = [
        q
        for q in questions
        if q.session_id in paths and branches.on_path(paths[q.session_id], q.branch, q.order)
    ]
    wanted: dict[Any, tuple[int, int]] = {}
    for q in questions:
        following = branches.window(paths[q.session_id], q.order + 1, q.order + 1)
        if following:
            wanted[q.pk] = (following[0].branch, q.order + 1)
    sessions_by_pk = {q.session_id: sessions[q.session_id] for q in questions}
    positions: dict[Any, list[tuple[int, int]]] = {}
    for q in questions:
        if q.pk in wanted:
            positions.setdefault(q.session_id, []).append(wanted[q.pk])
    answers = {
        (answer.session_id, answer.branch, answer.order): answer
        for session_pk, session_positions in positions.items()
        for answer in messages_at(session=sessions_by_pk[session_pk], positions=session_positions)
        if answer.role == Role.ASSISTANT
    }

    def answer_to(question: ChatMessage) -> str | None:
        position = wanted.get(question.pk)
        found = answers.get((question.session_id, *position)) if position else None
        return found.content if found else None

    return [
        {
            "conversation_id": sessions[q.session_id].session_id,
            "message": q.content,
            "response": answer_to(q),
            "timestamp": q.created_at,
        }
        for q in questions
    ]
