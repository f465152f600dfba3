"""Celery tasks of the WhatsApp channel: ids in, one service call, idempotent; never text or numbers."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pymongo
from celery import shared_task

from whatsapp import graph, payloads, services
from whatsapp.exceptions import StorageNotReady

logger = logging.getLogger(__name__)

UNKNOWN_STATUS_RETRIES = 3


def _enqueue(task: Any, *args: Any, **options: Any) -> None:
    """Never fails the caller: ``resume_pending`` (every minute) picks up what was not enqueued."""
    try:
        task.apply_async(args=args, retry=False, **options)
    except Exception as exc:  # a broker outage must not fail a webhook or a turn
        logger.warning("could not enqueue a whatsapp task", extra={"error": exc.__class__.__name__})


@shared_task(acks_late=True, autoretry_for=(pymongo.errors.PyMongoError,), retry_backoff=True, max_retries=5)
def handle_inbound(inbound_id: int) -> str:
    return services.handle_inbound(inbound_id=inbound_id)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(graph.TransientSendError,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def send_reply(self: Any, reply_id: int) -> str:
    """Retries on 429/5xx/timeouts with backoff, never on a 4xx; waits for MongoDB when the reply
    was queued in the outbox (``resume_pending`` keeps trying after the retries here)."""
    try:
        return services.send_reply(reply_id=reply_id)
    except StorageNotReady as exc:
        raise self.retry(exc=exc, countdown=30, max_retries=20) from exc


@shared_task(
    bind=True, acks_late=True, autoretry_for=(pymongo.errors.PyMongoError,), retry_backoff=True, max_retries=8
)
def apply_statuses(self: Any, updates: list[dict[str, Any]]) -> int:
    """A callback can overtake the recording of the part it is about (the send's answer is still
    on its way): unknown ``wamid``s are tried again a few times, then ignored."""
    applied = 0
    unknown: list[dict[str, Any]] = []
    for item in updates:
        update = payloads.StatusUpdate(
            wamid=item["wamid"],
            status=item["status"],
            at=datetime.fromisoformat(item["at"]),
            error_code=item.get("error_code"),
            error_title=item.get("error_title", ""),
        )
        if services.apply_status(update=update):
            applied += 1
        else:
            unknown.append(item)
    if unknown and self.request.retries < UNKNOWN_STATUS_RETRIES and not self.request.is_eager:
        self.apply_async(args=[unknown], countdown=10, retries=self.request.retries + 1)
    return applied


@shared_task(acks_late=True)
def resume_pending() -> dict[str, int]:
    """Every minute: re-enqueue messages and replies whose task was lost or gave up."""
    stalled = services.stalled_work()
    for inbound_id in stalled.inbound_ids:
        _enqueue(handle_inbound, inbound_id)
    for reply_id in stalled.reply_ids:
        _enqueue(send_reply, reply_id)
    return {"inbound": len(stalled.inbound_ids), "replies": len(stalled.reply_ids)}


def enqueue_inbound(inbound_id: int) -> None:
    _enqueue(handle_inbound, inbound_id)


def enqueue_send(reply_id: int) -> None:
    _enqueue(send_reply, reply_id)


def enqueue_statuses(updates: list[payloads.StatusUpdate]) -> None:
    if updates:
        _enqueue(
            apply_statuses,
            [
                {
                    "wamid": u.wamid,
                    "status": u.status,
                    "at": u.at.isoformat(),
                    "error_code": u.error_code,
                    "error_title": u.error_title,
                }
                for u in updates
            ],
        )
