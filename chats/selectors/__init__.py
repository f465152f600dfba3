"""Every read of the chat store that is more than ``.get()``, by subject.

Each query filters on ``user_id`` first (index prefix and shard key) and is bounded: message
pages are ranges of the gap-free ``order`` numbers, so their cost does not grow with a
session's length; lists are keyset-paginated with a hard maximum page size. The names below
are re-exported so callers keep writing ``selectors.get_session(...)``.
"""

from chats.selectors.erasures import get_erasure
from chats.selectors.messages import (
    MessagePage,
    get_message,
    iter_every_message,
    iter_session_messages,
    latest_exchanges,
    message_children,
    message_page,
    message_siblings,
    messages_at,
    messages_by_id,
    messages_in_range,
)
from chats.selectors.query import page_size
from chats.selectors.search import SearchHit, SearchResult, search_chats
from chats.selectors.sessions import (
    FIRST_SESSION_SLICE,
    SESSION_SLICES,
    UNBOUNDED_AFTER,
    SessionPage,
    get_session,
    list_sessions,
    next_slice_width,
    sessions_updated_between,
)
from chats.selectors.staff import chat_counts_by_user, latest_chats_all_users
from chats.selectors.statistics import (
    day_bounds,
    global_statistics,
    session_statistics,
    token_usage_by_model,
    totals_for_day,
)
from chats.selectors.votes import session_token_usage, session_votes, votes_for_messages

__all__ = [
    "FIRST_SESSION_SLICE",
    "SESSION_SLICES",
    "UNBOUNDED_AFTER",
    "MessagePage",
    "SearchHit",
    "SearchResult",
    "SessionPage",
    "chat_counts_by_user",
    "day_bounds",
    "get_erasure",
    "get_message",
    "get_session",
    "global_statistics",
    "iter_every_message",
    "iter_session_messages",
    "latest_chats_all_users",
    "latest_exchanges",
    "list_sessions",
    "message_children",
    "message_page",
    "message_siblings",
    "messages_at",
    "messages_by_id",
    "messages_in_range",
    "next_slice_width",
    "page_size",
    "search_chats",
    "session_statistics",
    "session_token_usage",
    "session_votes",
    "sessions_updated_between",
    "token_usage_by_model",
    "totals_for_day",
    "votes_for_messages",
]
