"""Every write to the chat store, by subject; views, tasks, the admin and commands call these.

Arguments are keyword-only. Sessions are always addressed together with their owner's
``user_id`` (the shard key), so a caller can never touch someone else's data by id alone.
The names below are re-exported so callers keep writing ``services.start_session(...)``;
the chat turn (user message, reply, outage fallback) is ``chats.services.turn``.
"""

from chats.builders import content_hash
from chats.responders.base import Reply
from chats.services.branches import remember_active_path, switch_branch
from chats.services.delivery import record_delivery_status, set_message_attachments
from chats.services.erasure import ErasureResult, complete_pending_erasures, request_erasure
from chats.services.messages import append_message, record_reply
from chats.services.retention import CleanupReport, cleanup_chats
from chats.services.sessions import (
    UPDATABLE_SESSION_FIELDS,
    DeletedCounts,
    ErasedChats,
    clear_user_chats,
    delete_session_permanently,
    restore_session,
    set_archived,
    set_legal_hold,
    set_pinned,
    soft_delete_session,
    start_session,
    update_session,
)
from chats.services.statistics import compute_daily_stats
from chats.services.validation import (
    PUBLIC_ID,
    title_from,
    validate_metadata,
    validate_public_id,
    validate_tags,
    validate_text,
)
from chats.services.votes import CastVote, cast_vote, unvote, vote

__all__ = [
    "PUBLIC_ID",
    "UPDATABLE_SESSION_FIELDS",
    "CastVote",
    "CleanupReport",
    "DeletedCounts",
    "ErasedChats",
    "ErasureResult",
    "Reply",
    "append_message",
    "cast_vote",
    "cleanup_chats",
    "clear_user_chats",
    "complete_pending_erasures",
    "compute_daily_stats",
    "content_hash",
    "delete_session_permanently",
    "record_delivery_status",
    "record_reply",
    "remember_active_path",
    "request_erasure",
    "restore_session",
    "set_archived",
    "set_legal_hold",
    "set_message_attachments",
    "set_pinned",
    "soft_delete_session",
    "start_session",
    "switch_branch",
    "title_from",
    "unvote",
    "update_session",
    "validate_metadata",
    "validate_public_id",
    "validate_tags",
    "validate_text",
    "vote",
]
