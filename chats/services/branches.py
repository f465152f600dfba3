"""Writes of a conversation's branch table other than new messages: switching the active branch."""

from __future__ import annotations

from chats import store
from chats.exceptions import MessageNotFound
from chats.models import ChatMessage, ChatSession


def switch_branch(*, session: ChatSession, message: ChatMessage) -> ChatSession:
    """Make the branch holding ``message`` active: the conversation then shows the path to that
    branch's tip. Idempotent; MessageNotFound when the message is not the session's."""
    if message.session_id != session.pk:
        raise MessageNotFound()
    result = store.collection(ChatSession).update_one(
        {**store.owned(session), "deleted_at": None}, {"$set": {"active_branch": message.branch}}
    )
    if result.matched_count == 0:
        raise MessageNotFound()
    session.active_branch = message.branch
    return session
