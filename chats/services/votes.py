"""A user's vote on a message: one per user and message."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bson import Int64
from pymongo.client_session import ClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from chats import builders, store
from chats.exceptions import InvalidChatInput
from chats.models import (
    ChatMessage,
    MessageVote,
    VoteType,
)
from chats.selectors.messages import get_message
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
    change = builders.vote_change(
        user_id=user_id, session_pk=message.session_id, vote_type=vote_type, reason=reason, moment=moment
    )

    def write(upsert: bool) -> Callable[[ClientSession], None]:
        def both(txn: ClientSession) -> None:
            # update_one, not find_one_and_update: see services.messages._count_up
            store.collection(MessageVote).update_one(owned, change, upsert=upsert, session=txn)
            _show_on_message(message, user_id, vote_type, txn)

        return both

    try:
        store.run_transaction(write(upsert=True))
    except DuplicateKeyError:  # a concurrent first vote won the insert: now it is an update
        store.run_transaction(write(upsert=False))
    message.vote = vote_type
    return MessageVote.objects.get(user_id=user_id, message_id=message.pk)


def unvote(*, message: ChatMessage, user_id: int) -> bool:
    def delete(txn: ClientSession) -> int:
        owned = {"user_id": Int64(user_id), "message_id": message.pk}
        deleted = store.collection(MessageVote).delete_one(owned, session=txn).deleted_count
        if deleted:
            _show_on_message(message, user_id, "", txn)
        return int(deleted)

    deleted = store.run_transaction(delete)
    message.vote = ""
    return deleted == 1


def _show_on_message(message: ChatMessage, user_id: int, vote_type: str, txn: ClientSession) -> None:
    """The owner's vote is kept on the message too (pages show it without reading the votes)."""
    if user_id == message.user_id:
        store.collection(ChatMessage).update_one(
            {"_id": message.pk, "user_id": Int64(user_id)}, {"$set": {"vote": vote_type}}, session=txn
        )


@dataclass(frozen=True)
class CastVote:
    """A stored vote on ``message`` — or, while MongoDB is down, ``queued`` in the outbox."""

    vote: MessageVote | None = None
    message: ChatMessage | None = None
    queued: bool = False


def cast_vote(*, user_id: int, message_id: str, vote_type: str, reason: str = "") -> CastVote:
    """The vote of the API: the caller's message by id, then ``vote``; queued in the outbox
    (delivered later through ``vote``) while MongoDB is unreachable."""
    from chats.outbox import services as outbox

    try:
        message = get_message(user_id=user_id, message_id=message_id)
        return CastVote(
            vote=vote(message=message, user_id=user_id, vote_type=vote_type, reason=reason), message=message
        )
    except PyMongoError as exc:
        if not store.is_outage(exc):
            raise
    outbox.enqueue_vote(user_id=user_id, message_id=message_id, vote_type=vote_type, reason=reason)
    return CastVote(queued=True)
