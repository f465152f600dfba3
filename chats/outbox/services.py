"""Writing to the outbox while MongoDB is down, and delivering it exactly once afterwards.

Every entry carries the ids the API already answered with (session_id, message_id), so a
delivery that is repeated — a task run twice, a worker killed mid-batch — finds the document
already stored (unique ``(user_id, message_id)``) and creates nothing new.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, Q, Value, When
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from prometheus_client.core import Metric

from accounts.selectors import search_language_of
from chats import crypto, selectors, services, store
from chats.exceptions import ChatError, SessionAlreadyExists
from chats.outbox.models import OutboxEntry
from chats.services import erasure
from medibot import metrics

logger = logging.getLogger(__name__)


def _when(value: datetime) -> str:
    return value.isoformat()


def _parse(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError("outbox timestamp is not ISO 8601")
    return moment


def enqueue_session(*, user_id: int, session_id: str, channel: str, created_at: datetime) -> OutboxEntry:
    return OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.SESSION,
        user_id=user_id,
        session_id=session_id,
        object_id=session_id,
        payload=crypto.seal_payload({"channel": channel, "created_at": _when(created_at)}),
    )


def enqueue_message(
    *, user_id: int, session_id: str, message_id: str, role: str, content: str, created_at: datetime
) -> OutboxEntry:
    return OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.MESSAGE,
        user_id=user_id,
        session_id=session_id,
        object_id=message_id,
        payload=crypto.seal_payload({"role": role, "content": content, "created_at": _when(created_at)}),
    )


def enqueue_reply(
    *,
    user_id: int,
    session_id: str,
    message_id: str,
    parent_message_id: str,
    reply: services.Reply,
    created_at: datetime,
) -> OutboxEntry:
    return OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.REPLY,
        user_id=user_id,
        session_id=session_id,
        object_id=message_id,
        payload=crypto.seal_payload(
            {
                "parent_message_id": parent_message_id,
                "created_at": _when(created_at),
                "content": reply.content,
                "model": reply.model,
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "cost": str(reply.cost),
                "source_documents": reply.source_documents,
                "agent_steps": reply.agent_steps,
                "metadata": reply.metadata,
                "status": reply.status,
                "error_info": reply.error_info,
            }
        ),
    )


def enqueue_vote(*, user_id: int, message_id: str, vote_type: str, reason: str) -> OutboxEntry:
    return OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.VOTE,
        user_id=user_id,
        object_id=message_id,
        payload=crypto.seal_payload({"vote_type": vote_type, "reason": reason}),
    )


def has_pending(*, user_id: int, session_id: str) -> bool:
    """Writes to a session with queued entries must queue too, to keep the session's order."""
    return OutboxEntry.objects.filter(
        user_id=user_id, session_id=session_id, status=OutboxEntry.Status.PENDING
    ).exists()


def pending_state(*, user_id: int, session_id: str | None) -> tuple[bool, bool]:
    """``(this session has queued writes, anything is queued at all)`` in one query: the chat turn's
    check before it writes (queue behind the session's writes) and after (wake the outbox up)."""
    pending = OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING)
    if session_id is None:
        return False, pending.exists()
    mine = Q(user_id=user_id, session_id=session_id)
    first = pending.order_by(Case(When(mine, then=Value(0)), default=Value(1))).values_list(
        "user_id", "session_id"
    )[:1]
    row = next(iter(first), None)
    return row == (user_id, session_id), row is not None


def any_pending() -> bool:
    return OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).exists()


def depth() -> int:
    return OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).count()


def failed_count() -> int:
    return OutboxEntry.objects.filter(status=OutboxEntry.Status.FAILED).count()


def backlog_gauges() -> list[Metric]:
    """Scrape-time gauges of /metrics: pending entries, the oldest one's age, failed entries."""
    pending = OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING)
    oldest = pending.order_by("id").values_list("created_at", flat=True).first()
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    return [
        metrics.gauge("medibot_outbox_depth", "Outbox entries waiting for delivery.", pending.count()),
        metrics.gauge("medibot_outbox_oldest_age_seconds", "Age of the oldest pending outbox entry.", age),
        metrics.gauge("medibot_outbox_failed", "Outbox entries marked failed (admin retry).", failed_count()),
    ]


# --- delivery ------------------------------------------------------------------------------------------


def _deliver(entry: OutboxEntry) -> None:
    """Write one entry to MongoDB; idempotent for every kind."""
    payload: dict[str, Any] = crypto.open_payload(entry.payload)
    if entry.kind == OutboxEntry.Kind.SESSION:
        with contextlib.suppress(SessionAlreadyExists):  # delivered before: idempotent
            services.start_session(
                user_id=entry.user_id,
                session_id=entry.session_id,
                channel=payload["channel"],
                created_at=_parse(payload["created_at"]),
            )
        return
    if entry.kind == OutboxEntry.Kind.VOTE:
        message = selectors.get_message(user_id=entry.user_id, message_id=entry.object_id)
        services.vote(
            message=message, user_id=entry.user_id, vote_type=payload["vote_type"], reason=payload["reason"]
        )
        return
    session = selectors.get_session(user_id=entry.user_id, session_id=entry.session_id)
    language = search_language_of(user_id=entry.user_id)  # the owner's setting at delivery
    if entry.kind == OutboxEntry.Kind.MESSAGE:
        services.append_message(
            session=session,
            role=payload["role"],
            content=payload["content"],
            message_id=entry.object_id,
            created_at=_parse(payload["created_at"]),
            language=language,
        )
        return
    reply = services.Reply(
        content=payload["content"],
        model=payload["model"],
        prompt_tokens=payload["prompt_tokens"],
        completion_tokens=payload["completion_tokens"],
        cost=Decimal(payload["cost"]),
        source_documents=payload["source_documents"],
        agent_steps=payload["agent_steps"],
        metadata=payload["metadata"],
        status=payload["status"],
        error_info=payload["error_info"],
    )
    services.record_reply(
        session=session,
        reply=reply,
        message_id=entry.object_id,
        parent_message_id=payload["parent_message_id"],
        created_at=_parse(payload["created_at"]),
        language=language,
    )


@dataclass(frozen=True)
class DrainReport:
    delivered: int
    failed: int
    pending: int
    stopped_by_outage: bool
    skipped_locked: bool = False


def drain(*, batch_size: int | None = None, max_batches: int = 1000) -> DrainReport:
    """Deliver pending entries in id order (so in order per session) until none are left.

    One drainer at a time: each batch locks its rows (``SELECT … FOR UPDATE SKIP LOCKED`` on
    MySQL), and a session whose earlier entry is still pending is not overtaken. An outage stops
    the drain with everything still pending; other errors are retried up to OUTBOX_MAX_ATTEMPTS
    times, then the entry is marked failed (visible in the admin and /api/chat/health).
    """
    size = batch_size or settings.OUTBOX_BATCH_SIZE
    delivered = failed = 0
    try:
        erasure.complete_pending_erasures()
    except Exception as exc:
        if not store.is_outage(exc):
            raise
    for _ in range(max_batches):
        with transaction.atomic():
            batch = list(
                OutboxEntry.objects.select_for_update(skip_locked=True)
                .filter(status=OutboxEntry.Status.PENDING)
                .order_by("id")[:size]
            )
            if not batch:
                break
            blocked: set[tuple[int, str]] = set()
            for entry in batch:
                key = (entry.user_id, entry.session_id)
                if entry.session_id and key in blocked:
                    continue
                if erasure.erased_scope(entry=entry):  # accepted before an erasure: never resurrect
                    entry.delete()
                    continue
                try:
                    _deliver(entry)
                except Exception as exc:
                    if store.is_outage(exc):
                        logger.warning("outbox drain stopped: chat store unavailable")
                        return DrainReport(delivered, failed, depth_after(), stopped_by_outage=True)
                    blocked.add(key)
                    failed += _record_failure(entry, exc)
                    continue
                entry.status = OutboxEntry.Status.DELIVERED
                entry.delivered_at = timezone.now()
                entry.attempts += 1
                entry.save(update_fields=["status", "delivered_at", "attempts"])
                metrics.record_outbox_delivery()
                delivered += 1
    return DrainReport(delivered, failed, depth_after(), stopped_by_outage=False)


def depth_after() -> int:
    try:
        return depth()
    except DatabaseError:
        return -1


def _record_failure(entry: OutboxEntry, exc: Exception) -> int:
    entry.attempts += 1
    reason = exc.message if isinstance(exc, ChatError) else exc.__class__.__name__
    entry.last_error = reason[:255]
    gave_up = entry.attempts >= settings.OUTBOX_MAX_ATTEMPTS or isinstance(exc, ChatError)
    if gave_up:
        entry.status = OutboxEntry.Status.FAILED
    entry.save(update_fields=["attempts", "last_error", "status"])
    metrics.record_outbox_failure(gave_up=gave_up)
    logger.warning(
        "outbox entry not delivered",
        extra={"outbox_id": entry.pk, "kind": entry.kind, "error": entry.last_error, "gave_up": gave_up},
    )
    return 1 if gave_up else 0


def retry_failed(*, entry_ids: list[int] | None = None) -> int:
    """Put failed entries back in the queue."""
    entries = OutboxEntry.objects.filter(status=OutboxEntry.Status.FAILED)
    if entry_ids is not None:
        entries = entries.filter(pk__in=entry_ids)
    return entries.update(status=OutboxEntry.Status.PENDING, attempts=0, last_error="")
