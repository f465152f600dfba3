"""A user's vote on a message: one per user and message."""

from __future__ import annotations

import logging

from bson import Int64, ObjectId
from pymongo.errors import DuplicateKeyError

from chats import store
from chats.exceptions import InvalidChatInput
from chats.models import (
    ChatMessage,
    MessageVote,
    VoteType,
)
from chats.services.validation import (
    validate_text,
)

logger = logging.getLogger(__name__)


def vote(*, message: ChatMessage, user_id: int, vote_type: str, reason: str = "") -> MessageVote:
    """One vote per user per message; voting again changes it."""
    if vote_type not in VoteType.values:
        raise InvalidChatInput("vote_type must be 'up' or 'down'.")
    if reason:
        validate_text(reason, what="reason", max_chars=500)
    moment = store.now()
    owned = {"user_id": Int64(user_id), "message_id": message.pk}
    change = {
        "$set": {"vote_type": vote_type, "reason": reason, "updated_at": moment},
        "$setOnInsert": {"_id": ObjectId(), "session_id": message.session_id, "created_at": moment},
    }
    votes = store.collection(MessageVote)
    try:  # update_one, not find_one_and_update: see _insert_messages
        votes.update_one(owned, change, upsert=True)
    except DuplicateKeyError:  # a concurrent first vote won the insert: now it is an update
        votes.update_one(owned, change)
    return MessageVote.objects.get(user_id=user_id, message_id=message.pk)


def unvote(*, message: ChatMessage, user_id: int) -> bool:
    result = store.collection(MessageVote).delete_one({"user_id": Int64(user_id), "message_id": message.pk})
    return result.deleted_count == 1
