"""Erasure as a recorded operation: clear-all and permanent delete go through here.

1. The request is recorded first (``Erasure`` on MySQL: who, what, when) — it is the tombstone
   that stops the outbox from delivering anything of that scope accepted before it.
2. Outbox entries of the scope accepted before the request are deleted (their payloads are PHI).
3. The chat store deletes each session with its messages, votes and token usage in one
   transaction; sessions under legal hold are hidden, not destroyed, and reported as kept.
4. When nothing of the patient is left (clear-all with nothing on legal hold, or the erasure of
   their last session), their data key is destroyed after the documents (crypto-shredding, see
   ``chats.crypto``): every copy encrypted under it — backups included — becomes unreadable. A
   legal hold keeps the key. The erasure records the destroyed key ids and when.
5. The erasure is marked complete. When the chat store is unreachable it stays pending and
   ``complete_pending_erasures()`` (run by every ``sync_outbox``) finishes it: erasure is
   idempotent, so a retry or a concurrent run does no harm.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.deletion import ErasureReport
from chats import crypto, store
from chats.models import ChatSession
from chats.outbox.models import Erasure, OutboxEntry
from chats.services.sessions import DeletedCounts, ErasedChats, clear_user_chats, delete_session_permanently
from ehr.services import remove_conversation_shares

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErasureResult:
    erasure_id: int
    completed: bool
    counts: DeletedCounts
    kept_session_ids: list[str]


def request_erasure(*, user_id: int, session_id: str = "", requested_by_id: int | None) -> ErasureResult:
    """Record and carry out the erasure of one session (``session_id``) or of all of a user's chats."""
    erasure = Erasure.objects.create(user_id=user_id, session_id=session_id, requested_by_id=requested_by_id)
    return complete_erasure(erasure=erasure)


ACCOUNT_HOLD_DETAIL = (
    "{count} conversation(s) are under a legal hold: they are kept, hidden, {key}and are erased "
    "when the hold is lifted. Everything else was erased."
)
ACCOUNT_PENDING_DETAIL = "Your chats are erased as soon as chat storage is back (the erasure is recorded)."


def erase_account(*, user_id: int, requested_by_id: int | None) -> ErasureReport:
    """The chats' part of an account deletion (registered with ``accounts.deletion``): every
    session not under legal hold with its messages, votes and usage, the search vocabulary, every
    outbox entry whenever made, the transfer files; then the data key unless a hold keeps it."""
    from chats.services.transfers import forget_user_transfers  # imports the importers, which import services

    erasure = Erasure.objects.create(user_id=user_id, requested_by_id=requested_by_id, account_deleted=True)
    result = complete_erasure(erasure=erasure)
    try:
        forget_user_transfers(user_id=user_id)
    except Exception as exc:
        if not store.is_outage(exc):
            raise
    if not result.completed:
        return ErasureReport(app="chats", completed=False, detail=ACCOUNT_PENDING_DETAIL)
    if not result.kept_session_ids:
        return ErasureReport(app="chats", completed=True)
    key = "with your encryption key, " if crypto.patient_key_exists(user_id) else ""
    detail = ACCOUNT_HOLD_DETAIL.format(count=len(result.kept_session_ids), key=key)
    return ErasureReport(app="chats", completed=True, kept=len(result.kept_session_ids), detail=detail)


def complete_erasure(*, erasure: Erasure) -> ErasureResult:
    """Carry out (again) a recorded erasure; an outage leaves it pending for the next attempt."""
    _purge_outbox(erasure)
    remove_conversation_shares(patient_user_id=erasure.user_id, session_id=erasure.session_id)
    try:
        erased = _erase_documents(erasure)
    except Exception as exc:
        if not store.is_outage(exc):
            raise
        logger.warning("erasure pending: chat store unavailable", extra={"erasure_id": erasure.pk})
        return ErasureResult(erasure.pk, completed=False, counts=DeletedCounts(), kept_session_ids=[])
    erasure.completed_at = timezone.now()
    erasure.kept_session_ids = erased.kept_session_ids
    shredded = _shred_if_nothing_left(erasure, kept=erased.kept_session_ids)
    if shredded:
        erasure.shredded_key_ids = shredded
        erasure.key_shredded_at = timezone.now()
    erasure.save(update_fields=["completed_at", "kept_session_ids", "shredded_key_ids", "key_shredded_at"])
    logger.info(
        "erasure completed",
        extra={"erasure_id": erasure.pk, "user_id": erasure.user_id, "kept": len(erased.kept_session_ids)},
    )
    return ErasureResult(
        erasure.pk, completed=True, counts=erased.counts, kept_session_ids=erased.kept_session_ids
    )


def complete_pending_erasures() -> int:
    """Finish every erasure the chat store could not carry out yet, and run each account erasure a
    second time once the requests in flight at the deletion have ended; returns how many completed.

    A request already past authentication when the account was deleted may still store a
    conversation (with encryption on, under a new data key) after the first pass listed the
    sessions; tokens are revoked and the user is gone, so after CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS
    (longer than any request lives) nothing more can arrive, and the second pass finds everything."""
    from chats.services.transfers import forget_user_transfers  # imports the importers, which import services

    done = 0
    for erasure in Erasure.objects.filter(completed_at__isnull=True).order_by("id"):
        done += complete_erasure(erasure=erasure).completed
    due = timezone.now() - timedelta(seconds=settings.CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS)
    rechecks = Erasure.objects.filter(
        account_deleted=True, completed_at__isnull=False, rechecked_at__isnull=True, requested_at__lte=due
    )
    for erasure in rechecks.order_by("id"):
        if not complete_erasure(erasure=erasure).completed:
            continue
        try:
            forget_user_transfers(user_id=erasure.user_id)
        except Exception as exc:
            if not store.is_outage(exc):
                raise
            continue
        erasure.rechecked_at = timezone.now()
        erasure.save(update_fields=["rechecked_at"])
        done += 1
    return done


def erased_scope(*, entry: OutboxEntry) -> bool:
    """Whether a recorded erasure covers this entry (same user and scope, accepted before it; any
    entry of a deleted account)."""
    scope = Q(session_id="") | Q(session_id=entry.session_id) if entry.session_id else Q(session_id="")
    covering = Q(scope, requested_at__gte=entry.created_at) | Q(account_deleted=True)
    return Erasure.objects.filter(covering, user_id=entry.user_id).exists()


def _shred_if_nothing_left(erasure: Erasure, *, kept: list[str]) -> list[str]:
    """Destroy the patient's data key once none of their chats is left (a held one keeps it)."""
    if kept or ChatSession.objects.filter(user_id=erasure.user_id).exists():
        return []
    if not crypto.patient_key_exists(erasure.user_id):
        return []
    shredded = crypto.shred_patient_key(erasure.user_id)
    logger.info("patient data key destroyed", extra={"erasure_id": erasure.pk, "user_id": erasure.user_id})
    return shredded


def shred_after_purge(*, user_id: int) -> list[str]:
    """Retention purged sessions of ``user_id``: when it was their last data, destroy their key
    and record it as an erasure of the system (no requester)."""
    if ChatSession.objects.filter(user_id=user_id).exists() or not crypto.patient_key_exists(user_id):
        return []
    undelivered = OutboxEntry.objects.filter(user_id=user_id).exclude(status=OutboxEntry.Status.DELIVERED)
    if undelivered.exists():  # writes still queued: the patient is not gone, and they must not be lost
        return []
    erasure = Erasure.objects.create(user_id=user_id, requested_by_id=None)
    complete_erasure(erasure=erasure)
    erasure.refresh_from_db()
    return list(erasure.shredded_key_ids)


def _purge_outbox(erasure: Erasure) -> int:
    entries = OutboxEntry.objects.filter(user_id=erasure.user_id)
    if not erasure.account_deleted:
        entries = entries.filter(created_at__lte=erasure.requested_at)
    if erasure.session_id:
        entries = entries.filter(session_id=erasure.session_id)
    deleted, _ = entries.delete()
    return deleted


def _erase_documents(erasure: Erasure) -> ErasedChats:
    if not erasure.session_id:
        return clear_user_chats(user_id=erasure.user_id)
    session = ChatSession.objects.filter(user_id=erasure.user_id, session_id=erasure.session_id).first()
    if session is None:  # already erased by an earlier attempt: nothing left to do
        return ErasedChats(counts=DeletedCounts(), kept_session_ids=[])
    return delete_session_permanently(session=session)
