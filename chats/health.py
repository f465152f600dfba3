"""Health of every store Medibot depends on; names only, never credentials."""

from __future__ import annotations

import logging
from typing import Any

import pymongo
from django.conf import settings
from django.db import connections

from chats import store

logger = logging.getLogger(__name__)
PROBE_SECONDS = 1.5


def _mysql() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _mongodb() -> str:
    with pymongo.timeout(PROBE_SECONDS):
        store.database().command("ping")
    return "ok"


def _redis_url() -> str:
    broker = str(settings.CELERY_BROKER_URL)
    return settings.REDIS_URL or (broker if broker.startswith(("redis://", "rediss://")) else "")


def _redis() -> str:
    url = _redis_url()
    if not url:
        return "not configured"
    import redis

    redis.Redis.from_url(url, socket_timeout=PROBE_SECONDS, socket_connect_timeout=PROBE_SECONDS).ping()
    return "ok"


def _celery() -> str:
    broker = str(settings.CELERY_BROKER_URL)
    if broker.startswith(("redis://", "rediss://")):
        return _redis()
    return f"embedded ({broker.split(':', 1)[0]})"


CHECKS = {"mysql": _mysql, "mongodb": _mongodb, "redis": _redis, "celery": _celery}


def _outbox(report: dict[str, Any]) -> None:
    """Queued chat writes; when MongoDB answers again, ask a worker to deliver them now."""
    from chats.outbox import services as outbox

    try:
        report["outbox_depth"] = outbox.depth()
        report["outbox_failed"] = outbox.failed_count()
    except Exception as exc:  # MySQL down: already reported as such
        logger.warning("outbox depth unknown", extra={"error": exc.__class__.__name__})
        report["outbox_depth"] = report["outbox_failed"] = None
        return
    if report["outbox_depth"] and report.get("mongodb") == "ok":
        from chats import tasks

        tasks.enqueue_outbox_sync()


def check_all() -> dict[str, Any]:
    report: dict[str, Any] = {"down": []}
    for name, probe in CHECKS.items():
        try:
            report[name] = probe()
        except Exception as exc:  # any failure means "down"; only the class is reported
            logger.warning("health check failed", extra={"store": name, "error": exc.__class__.__name__})
            report[name] = "down"
            report["down"].append(name)
    _outbox(report)
    report["status"] = "ok" if not report["down"] else "degraded"
    return report
