"""Celery task of the importers: the JSON backup directory into the chat store (``POST /api/chat/sync``)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from chats.importers import progress, runner
from chats.importers.sources import open_source
from chats.services import transfers

logger = logging.getLogger(__name__)

PROGRESS = "PROGRESS"


@shared_task(bind=True, name="chats.tasks.import_json_backup", acks_late=True, ignore_result=False)
def import_json_backup(self: Task) -> dict[str, Any]:
    """Import what CHAT_BACKUP_DIR holds and the chat store lacks; progress in the task's state.

    Resumable and idempotent: a redelivered task, or one continued after its soft time limit,
    picks the run up at its last checkpoint and inserts nothing twice.
    """
    directory = settings.CHAT_BACKUP_DIR
    if not directory:
        return {"skipped": "CHAT_BACKUP_DIR is not set"}

    def report(counts: dict[str, Any]) -> None:
        self.update_state(state=PROGRESS, meta=counts)

    source = open_source("json", path=directory)
    for warning in source.warnings():
        logger.warning("json backup import: %s", warning, extra={"task_id": self.request.id})
    try:
        result = runner.migrate(source=source, progress=progress.Callback(report))
    except SoftTimeLimitExceeded as exc:
        logger.info("json backup import continues in a new attempt", extra={"task_id": self.request.id})
        raise self.retry(countdown=1, max_retries=None) from exc
    finally:
        source.close()
    return {
        "run_id": result.run_id,
        "source": result.source_ref,
        **result.counts.as_dict(),
        "users_created": result.users_created,
        "stats_days": result.stats_days,
        "seconds": round(result.seconds, 3),
    }


@shared_task(bind=True, name="chats.tasks.import_chat_file", acks_late=True, ignore_result=True)
def import_chat_file(self: Task, transfer_id: str) -> None:
    """A file a patient uploaded, into their own account; state and result in ``chat_transfers``.

    Continued in a new attempt after the soft time limit (the run resumes at its checkpoint).
    """
    transfers.purge_expired_transfers()
    try:
        transfers.run_import(transfer_id=transfer_id)
    except SoftTimeLimitExceeded as exc:
        logger.info("chat file import continues in a new attempt", extra={"transfer_id": transfer_id})
        raise self.retry(countdown=1, max_retries=None) from exc
