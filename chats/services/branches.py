"""Writes of a conversation's branches other than its messages: switching the active branch, and
keeping the recent-history cache on the active path after the path changed."""

from __future__ import annotations

from django.conf import settings

from chats import branches, recent_history, store
from chats.exceptions import MessageNotFound
from chats.models import ChatMessage, ChatSession
from chats.selectors.messages import messages_in_range


def switch_branch(*, session: ChatSession, message: ChatMessage) -> ChatSession:
    """Show ``message``: when it is not on the active path, the branch holding it becomes active
    (the conversation then shows the path to that branch's tip); when it is, nothing changes (a
    search hit in the shown conversation). MessageNotFound when the message is not the session's."""
    if message.session_id != session.pk:
        raise MessageNotFound()
    if branches.on_path(branches.active_path(session), message.branch, message.order):
        return session
    result = store.collection(ChatSession).update_one(
        {**store.owned(session), "deleted_at": None}, {"$set": {"active_branch": message.branch}}
    )
    if result.matched_count == 0:
        raise MessageNotFound()
    session.active_branch = message.branch
    remember_active_path(session=session)
    return session


def remember_active_path(*, session: ChatSession) -> None:
    """Replace the session's recent-history cache (read during outages) with the newest messages
    of its active path, after an edit, a regeneration or a switch changed that path."""
    high = branches.path_length(session)
    low = max(1, high - settings.CHAT_RECENT_CACHE_MESSAGES + 1)
    newest = messages_in_range(session=session, low=low, high=high) if high else []
    recent_history.replace_session(session=session, stored=newest)
