"""Reads of votes."""

from __future__ import annotations

from typing import Any

from bson import Int64

from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage
from chats.selectors.query import aggregate


def votes_for_messages(*, user_id: int, messages: list[ChatMessage]) -> dict[Any, str]:
    """The caller's vote on each of ``messages``: {message pk: "up"|"down"} in one indexed query."""
    if not messages:
        return {}
    votes = aggregate(
        MessageVote, {"user_id": Int64(user_id), "message_id": {"$in": [m.pk for m in messages]}}
    )
    return {vote.message_id: vote.vote_type for vote in votes}


def session_votes(*, session: ChatSession) -> dict[Any, MessageVote]:
    """The owner's votes in one session by message pk (one index range of ``vote_session_idx``)."""
    return {
        vote.message_id: vote
        for vote in aggregate(MessageVote, {"user_id": Int64(session.user_id), "session_id": session.pk})
    }


def session_token_usage(*, session: ChatSession) -> dict[Any, TokenUsage]:
    """The token usage of one session's replies by message pk (one range of ``usage_session_idx``)."""
    return {
        usage.message_id: usage
        for usage in aggregate(TokenUsage, {"user_id": Int64(session.user_id), "session_id": session.pk})
    }
