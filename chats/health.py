"""Health of every store Medibot depends on; names only, never credentials.

It tells the truth rather than "reachable": MongoDB gets a write round trip with a deadline on
its own ``health_probes`` collection (a server that answers ``ping`` while writes hang on locks is
``writes stuck``), the relational store is named by its engine, Celery by whether a worker answers
a ping. A report is computed at most once per ``HEALTH_CACHE_SECONDS`` per process and the outbox
sync is enqueued at most once per ``HEALTH_ENQUEUE_INTERVAL_SECONDS`` across processes, so a flood
of (anonymous) health requests costs neither probes nor tasks.

``down`` (HTTP 503) names stores that cannot be reached; ``degraded`` (HTTP 200, ``status:
degraded``) names what works but not well: MongoDB writes stuck, the outbox growing, no Celery
worker answering.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pymongo
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.utils import timezone

from chats import store

logger = logging.getLogger(__name__)
PROBE_SECONDS = 1.5
WORKER_PING_SECONDS = 1.0
PROBE_COLLECTION = "health_probes"
ENQUEUE_GUARD_KEY = "medibot:health:outbox-sync-enqueued"

_last_report: tuple[float, dict[str, Any]] | None = None
_report_lock = threading.Lock()


def relational_engine() -> str:
    """``mysql``, ``sqlite``, ``postgresql``...: what ``default`` really is."""
    return str(connections["default"].vendor)


def _relational() -> str:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _mongodb() -> str:
    """A ping, then a write round trip; a write that misses the deadline is "writes stuck"."""
    with pymongo.timeout(PROBE_SECONDS):
        store.database().command("ping")
    try:
        with pymongo.timeout(PROBE_SECONDS):
            store.database()[PROBE_COLLECTION].update_one(
                {"_id": "probe"}, {"$set": {"at": timezone.now()}}, upsert=True
            )
    except (pymongo.errors.ExecutionTimeout, pymongo.errors.WTimeoutError, pymongo.errors.NetworkTimeout):
        return "writes stuck"
    except pymongo.errors.PyMongoError as exc:
        if exc.timeout:
            return "writes stuck"
        raise
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
    """``ok`` when a worker answers a ping; brokers without broadcast (embedded) are not pinged."""
    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith(("redis://", "rediss://", "amqp://", "amqps://")):
        return f"embedded ({broker.split(':', 1)[0]})"
    from medibot.celery import app

    answers = app.control.ping(timeout=WORKER_PING_SECONDS)
    return "ok" if answers else "no worker"


CHECKS = {"relational": _relational, "mongodb": _mongodb, "redis": _redis, "celery": _celery}


def _outbox(report: dict[str, Any]) -> None:
    """Queued chat writes; when MongoDB takes writes again, ask a worker (once) to deliver them."""
    from chats.outbox import services as outbox

    try:
        report["outbox_depth"] = outbox.depth()
        report["outbox_failed"] = outbox.failed_count()
    except Exception as exc:  # the relational store is down: already reported as such
        logger.warning("outbox depth unknown", extra={"error": exc.__class__.__name__})
        report["outbox_depth"] = report["outbox_failed"] = None
        return
    if report["outbox_depth"] >= settings.HEALTH_OUTBOX_DEGRADED_DEPTH:
        report["degraded"].append("outbox")
    if report["outbox_depth"] and report.get("mongodb") == "ok" and _may_enqueue():
        from chats import tasks

        tasks.enqueue_outbox_sync()


def _may_enqueue() -> bool:
    """At most one enqueue per interval across every process (the cache is shared); no cache, no enqueue."""
    try:
        return bool(cache.add(ENQUEUE_GUARD_KEY, 1, timeout=settings.HEALTH_ENQUEUE_INTERVAL_SECONDS))
    except Exception as exc:  # beat delivers the outbox every minute anyway
        logger.warning("health enqueue guard unavailable", extra={"error": exc.__class__.__name__})
        return False


def _compute() -> dict[str, Any]:
    report: dict[str, Any] = {"down": [], "degraded": [], "relational_engine": relational_engine()}
    for name, probe in CHECKS.items():
        try:
            report[name] = probe()
        except Exception as exc:  # any failure means "down"; only the class is reported
            logger.warning("health check failed", extra={"store": name, "error": exc.__class__.__name__})
            report[name] = "down"
            report["down"].append(report["relational_engine"] if name == "relational" else name)
    if report["mongodb"] == "writes stuck":
        report["degraded"].append("mongodb")
    if report["celery"] == "no worker":
        report["degraded"].append("celery")
    _outbox(report)
    report["status"] = "ok" if not (report["down"] or report["degraded"]) else "degraded"
    return report


def check_all() -> dict[str, Any]:
    """The current report, probed at most once per ``HEALTH_CACHE_SECONDS`` in this process."""
    global _last_report
    with _report_lock:
        now = time.monotonic()
        if _last_report is not None and now - _last_report[0] < settings.HEALTH_CACHE_SECONDS:
            return dict(_last_report[1])
        report = _compute()
        _last_report = (time.monotonic(), report)
        return dict(report)
