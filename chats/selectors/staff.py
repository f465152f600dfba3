"""Reads across users for staff: chat counts per user, newest chats of everyone."""

from __future__ import annotations

from typing import Any

from bson import Int64

from chats import store
from chats.models import ChatMessage, ChatSession
from chats.selectors.query import aggregate, page_size
from medibot.mongodb.shard_guard import unscoped


def chat_counts_by_user(*, user_ids: list[int]) -> dict[int, dict[str, int]]:
    """Session and message counts of many users in one aggregation (stored counters, no counting)."""
    if not user_ids:
        return {}
    rows = store.collection(ChatSession).aggregate(
        [
            {"$match": {"user_id": {"$in": [Int64(user_id) for user_id in user_ids]}}},
            {"$match": {"deleted_at": None}},
            {"$group": {"_id": "$user_id", "sessions": {"$sum": 1}, "messages": {"$sum": "$message_count"}}},
        ]
    )
    return {
        int(row["_id"]): {"session_count": int(row["sessions"]), "message_count": int(row["messages"])}
        for row in rows
    }


@unscoped("staff: newest messages of every user")
def latest_chats_all_users(*, limit: int) -> list[dict[str, Any]]:
    """The newest messages of every user (staff; an index range on ``created_at``)."""
    messages = aggregate(ChatMessage, {}, sort={"created_at": -1, "_id": -1}, limit=page_size(limit))
    sessions = {
        session.pk: session
        for session in aggregate(ChatSession, {"_id": {"$in": list({m.session_id for m in messages})}})
    }
    return [
        {
            "user_id": message.user_id,
            "session_id": sessions[message.session_id].session_id if message.session_id in sessions else None,
            "message_id": message.message_id,
            "role": message.role,
            "content": message.content,
            "created_at": message.created_at,
        }
        for message in messages
    ]
