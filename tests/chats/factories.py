"""Chat test data, written through the services (or, for bulk volumes, as the ORM would store it)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pymongo
from bson import Int64

from chats import builders, search_index, services, store
from chats.models import ChatMessage, ChatSession, Role, TokenUsage

_user_ids = itertools.count(10_000)


def next_user_id() -> int:
    return next(_user_ids)


def session_with_messages(*, user_id: int | None = None, messages: int = 0, **fields: object) -> ChatSession:
    session = services.start_session(user_id=user_id or next_user_id(), **fields)  # type: ignore[arg-type]
    for number in range(1, messages + 1):
        role = Role.USER if number % 2 else Role.ASSISTANT
        services.append_message(session=session, role=role, content=f"message {number} of the session")
    return session


def bulk_messages(*, session: ChatSession, count: int, batch: int = 5000) -> ChatSession:
    """Append ``count`` messages in bulk (orders continue the session's), counters kept right."""
    start = session.message_count
    _bulk_insert(session, branch=0, first_order=start + 1, count=count, batch=batch)
    last = store.now() - timedelta(days=1) + timedelta(milliseconds=count)
    store.collection(ChatSession).update_one(
        {"_id": session.pk, "user_id": Int64(session.user_id)},
        {"$inc": {"message_count": count}, "$max": {"last_message_at": last}},
    )
    session.message_count += count
    session.last_message_at = last
    return session


def bulk_fork(*, session: ChatSession, parent: int, first: int, count: int) -> ChatSession:
    """A new branch of ``count`` messages forked from branch ``parent`` at order ``first`` (its
    first message a sibling of the one there), written in bulk and made active."""
    branch = len(session.branches) + 1
    _bulk_insert(session, branch=branch, first_order=first, count=count, batch=5000)
    fork = builders.fork(id=branch, parent=parent, first=first, tip=first + count - 1)
    store.collection(ChatSession).update_one(
        {"_id": session.pk, "user_id": Int64(session.user_id)},
        {"$inc": {"message_count": count}, "$push": {"branches": fork}, "$set": {"active_branch": branch}},
    )
    session.message_count += count
    session.branches = [*session.branches, fork]
    session.active_branch = branch
    return session


def _bulk_insert(session: ChatSession, *, branch: int, first_order: int, count: int, batch: int) -> None:
    moment = store.now() - timedelta(days=1)
    for low in range(0, count, batch):
        docs = []
        for offset in range(low, min(count, low + batch)):
            order = first_order + offset
            message = builders.message(
                session=session,
                role=Role.USER if order % 2 else Role.ASSISTANT,
                content=f"bulk message {order} about blood pressure"
                if branch == 0
                else f"bulk message {order} on branch {branch} about blood pressure",
                order=order,
                branch=branch,
                created_at=moment + timedelta(milliseconds=offset + 1),
            )
            docs.append(store.to_document(message))
        with pymongo.timeout(120):
            search_index.index_documents(docs)
            store.collection(ChatMessage).insert_many(docs, ordered=False)


def exchange(
    *,
    session: ChatSession,
    user_content: str,
    reply: services.Reply,
    user_message_id: str | None = None,
    assistant_message_id: str | None = None,
) -> tuple[ChatMessage, ChatMessage, TokenUsage | None]:
    """A question and its stored reply, written as the live chat turn writes them
    (``append_message`` of the user's message, then ``record_reply``)."""
    question = services.append_message(
        session=session, role=Role.USER, content=user_content, message_id=user_message_id
    )
    answer, usage = services.record_reply(
        session=session, reply=reply, message_id=assistant_message_id, parent_message_id=question.message_id
    )
    return question, answer, usage
