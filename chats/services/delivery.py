"""Delivery over other channels (WhatsApp): what happened to a message after Medibot stored it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import Int64

from chats import crypto, store
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage
from chats.services.validation import validate_metadata

DELIVERY_RANKS = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4, "not_sent": 4}


def record_delivery_status(
    *,
    user_id: int,
    message_id: str,
    channel: str,
    status: str,
    at: datetime,
    error: dict[str, Any] | None = None,
    outbound_ids: list[str] | None = None,
) -> bool:
    """Store a delivery status on a message's document (``metadata.delivery``): when each status
    was reached, the furthest one as ``status`` (a late ``delivered`` never hides ``read``;
    ``failed`` and ``not_sent`` win) and the channel's ids of what was sent (``outbound_ids``).
    Repeats are no-ops. False when the message is not stored."""
    if status not in DELIVERY_RANKS:
        raise InvalidChatInput(f"status must be one of {', '.join(DELIVERY_RANKS)}.")
    owned = {"user_id": Int64(user_id), "message_id": message_id}
    changes: dict[str, Any] = {
        "metadata.delivery.channel": channel,
        f"metadata.delivery.events.{status}": at.isoformat(),
    }
    if error:
        kept = ("code", "title", "reason")
        changes["metadata.delivery.error"] = {key: error[key] for key in kept if key in error}
    if outbound_ids:
        changes["metadata.delivery.outbound_ids"] = outbound_ids
    found = store.collection(ChatMessage).update_one(owned, {"$set": changes})
    if not found.matched_count:
        return False
    rank = DELIVERY_RANKS[status]
    store.collection(ChatMessage).update_one(
        {
            **owned,
            "$or": [
                {"metadata.delivery.rank": {"$lt": rank}},
                {"metadata.delivery.rank": {"$exists": False}},
            ],
        },
        {"$set": {"metadata.delivery.status": status, "metadata.delivery.rank": rank}},
    )
    return True


def set_message_attachments(*, user_id: int, message_id: str, attachments: list[dict[str, Any]]) -> bool:
    """Record what a message carried (media type, id, size hints; never the content). False when
    the message is not stored."""
    validate_metadata({"attachments": attachments})
    done = store.collection(ChatMessage).update_one(
        {"user_id": Int64(user_id), "message_id": message_id},
        {"$set": {"attachments": crypto.seal(user_id, attachments)}},
    )
    return bool(done.matched_count)
