"""Retention: purge soft-deleted sessions, archive or purge inactive ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from chats import store
from chats.exceptions import InvalidChatInput
from chats.models import (
    ChatSession,
)
from chats.services.erasure import shred_after_purge
from chats.services.sessions import DeletedCounts, delete_session_permanently
from medibot.mongodb.shard_guard import unscoped

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CleanupReport:
    purged_sessions: int
    purged_messages: int
    retained_sessions: int
    retention_action: str
    dry_run: bool


@unscoped("background: retention cleanup across every user")
def cleanup_chats(*, days_old: int | None = None, dry_run: bool = False) -> CleanupReport:
    """Purge sessions soft-deleted over CHAT_SOFT_DELETE_DAYS ago and apply retention to inactive ones.

    ``days_old`` (else CHAT_RETENTION_DAYS; 0 = keep forever) selects sessions not updated for that
    long; CHAT_RETENTION_ACTION archives or purges them. Legal-hold sessions are never touched.
    Idempotent: a second run finds nothing more to do. A background job across all users.
    """
    moment = timezone.now()
    sessions = store.collection(ChatSession)
    soft_cutoff = moment - timedelta(days=settings.CHAT_SOFT_DELETE_DAYS)
    purge: list[dict[str, Any]] = [{"deleted_at": {"$lt": soft_cutoff}, "legal_hold": False}]
    days = settings.CHAT_RETENTION_DAYS if days_old is None else days_old
    if days < 0:
        raise InvalidChatInput("days_old must be zero or more.")
    action = settings.CHAT_RETENTION_ACTION
    inactive = {"updated_at": {"$lt": moment - timedelta(days=days)}, "deleted_at": None, "legal_hold": False}
    retained = 0
    if days:
        if action == "purge":
            purge.append(inactive)
        else:
            inactive["is_archived"] = False
            retained = (
                sessions.count_documents(inactive)
                if dry_run
                else sessions.update_many(
                    inactive, {"$set": {"is_archived": True, "is_active": False}}
                ).modified_count
            )
    purged = DeletedCounts()
    emptied: set[int] = set()
    for condition in purge:
        for document in sessions.find(
            condition, {"_id": 1, "user_id": 1, "session_id": 1, "message_count": 1}
        ):
            if dry_run:
                purged += DeletedCounts(sessions=1, messages=int(document.get("message_count", 0)))
                continue
            victim = ChatSession(
                pk=document["_id"], user_id=int(document["user_id"]), session_id=document["session_id"]
            )
            purged += delete_session_permanently(session=victim).counts
            emptied.add(victim.user_id)
    for user_id in sorted(emptied):  # their last data purged: their key goes too (crypto-shredding)
        shred_after_purge(user_id=user_id)
    return CleanupReport(
        purged_sessions=purged.sessions,
        purged_messages=purged.messages,
        retained_sessions=retained,
        retention_action=action if days else "none",
        dry_run=dry_run,
    )
