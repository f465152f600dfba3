"""Reads of votes."""

from __future__ import annotations

from typing import Any

from bson import Int64

from chats.models import ChatMessage, MessageVote
from chats.selectors.query import aggregate


def votes_for_messages(*, user_id: int, messages: list[ChatMessage]) -> dict[Any, str]:
    """The caller's vote on each of ``messages``: {message pk: "up"|"down"} in one indexed query."""
    if not messages:
        return {}
    votes = aggregate(
        MessageVote, {"user_id": Int64(user_id), "message_id": {"$in": [m.pk for m in messages]}}
    )
    return {vote.message_id: vote.vote_type for vote in votes}
