"""Celery tasks: ids and dates in, one service call, idempotent. Never message text in arguments."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import pymongo
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from chats import backups, services
from chats.outbox import services as outbox
from chats.services import transfers
from chats.services.search_rebuild import count_deferred_terms

logger = logging.getLogger(__name__)


def _job_deadline() -> float:
    """Background jobs may take longer than a request: up to the soft time limit."""
    return float(settings.CELERY_TASK_SOFT_TIME_LIMIT)


@shared_task(acks_late=True, ignore_result=False)
def sync_outbox() -> dict[str, Any]:
    """Deliver queued chat writes to MongoDB (every minute from beat, and after recovery)."""
    with pymongo.timeout(_job_deadline()):
        report = outbox.drain()
    return asdict(report)


def enqueue_outbox_sync() -> None:
    """Ask a worker to drain the outbox now; never fails the caller (beat runs it every minute)."""
    try:
        sync_outbox.apply_async(retry=False)
    except Exception as exc:  # a broker outage must not fail a chat request
        logger.warning("could not enqueue the outbox sync", extra={"error": exc.__class__.__name__})


@shared_task(acks_late=True, ignore_result=True)
def count_search_terms(user_id: int | None = None) -> int:
    """Count the search terms the append path deferred: one user's (asked by an append), or
    every user's (every minute from beat). Idempotent; a failed run is redone by the next."""
    with pymongo.timeout(_job_deadline()):
        return count_deferred_terms(user_id=user_id)


def enqueue_search_count(*, user_id: int) -> None:
    """Ask a worker to count one user's deferred search terms; never fails the caller (the
    minute job counts them anyway)."""
    try:
        count_search_terms.apply_async(args=[user_id], retry=False)
    except Exception as exc:  # a broker outage must not fail a chat request
        logger.warning("could not enqueue the search count", extra={"error": exc.__class__.__name__})


@shared_task(acks_late=True, autoretry_for=(pymongo.errors.PyMongoError,), retry_backoff=True, max_retries=5)
def cleanup_chats(days_old: int | None = None, dry_run: bool = False) -> dict[str, Any]:
    with pymongo.timeout(_job_deadline()):
        return asdict(services.cleanup_chats(days_old=days_old, dry_run=dry_run))


@shared_task(acks_late=True, autoretry_for=(pymongo.errors.PyMongoError,), retry_backoff=True, max_retries=5)
def compute_daily_stats(day: str | None = None) -> list[str]:
    """Recompute the given day (ISO date), or yesterday and today."""
    today = timezone.now().date()
    days = [date.fromisoformat(day)] if day else [today - timedelta(days=1), today]
    with pymongo.timeout(_job_deadline()):
        for each in days:
            services.compute_daily_stats(day=each)
    return [each.isoformat() for each in days]


@shared_task(acks_late=True, autoretry_for=(pymongo.errors.PyMongoError,), retry_backoff=True, max_retries=5)
def backup_chats() -> dict[str, Any]:
    """JSON backup of conversations changed since the last backup (when CHAT_BACKUP_DIR is set)."""
    if not settings.CHAT_BACKUP_DIR:
        return {"skipped": "CHAT_BACKUP_DIR is not set"}
    with pymongo.timeout(_job_deadline()):
        return asdict(backups.backup_changed_sessions(directory=settings.CHAT_BACKUP_DIR))


@shared_task(acks_late=True, ignore_result=True)
def export_all_chats(transfer_id: str) -> None:
    """A patient's all-conversations zip for them to download (state in ``chat_transfers``)."""
    transfers.purge_expired_transfers()
    with pymongo.timeout(_job_deadline()):
        transfers.run_export(transfer_id=transfer_id)


from chats.importers.tasks import import_chat_file, import_json_backup  # noqa: E402, F401 - registers the importer's tasks
