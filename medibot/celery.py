"""Celery application: JSON only, late acks, bounded tasks, schedules kept in django-celery-beat."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "medibot.settings.local")

app = Celery("medibot")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.on_configure.connect
def configure_transport(sender: Celery, **kwargs: object) -> None:
    """Production-grade defaults; the broker-free filesystem transport for embedded runs."""
    from django.conf import settings

    conf = sender.conf
    conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.CELERY_TASK_TIME_LIMIT,
        task_soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
        result_expires=60 * 60 * 24,
        broker_connection_retry_on_startup=True,
        beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
        # One queue per kind of job, so each can get its own workers (docker-compose.yml).
        task_default_queue="default",
        task_routes={
            "chats.tasks.sync_outbox": {"queue": "outbox"},
            "chats.tasks.cleanup_chats": {"queue": "cleanup"},
            "chats.tasks.compute_daily_stats": {"queue": "stats"},
            "chats.tasks.backup_chats": {"queue": "stats"},
            "chats.tasks.import_json_backup": {"queue": "import"},
            "chats.tasks.import_chat_file": {"queue": "import"},
            "chats.tasks.export_all_chats": {"queue": "import"},
        },
        timezone="UTC",
    )
    broker = str(settings.CELERY_BROKER_URL)
    if broker.startswith("filesystem://"):
        folder = Path(settings.CELERY_EMBEDDED_BROKER_DIR)
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        }
        Path(str(settings.CELERY_RESULT_BACKEND).removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    elif broker.startswith(("redis://", "rediss://")):
        # Longer than the hard time limit, so an unacknowledged task is never redelivered while running.
        conf.broker_transport_options = {
            "visibility_timeout": settings.CELERY_TASK_TIME_LIMIT * 2,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        }
        conf.result_backend_transport_options = {"visibility_timeout": settings.CELERY_TASK_TIME_LIMIT * 2}


@task_prerun.connect
def start_task_unit_of_work(**kwargs: object) -> None:
    """Each task starts unpinned from the primary, like each request (see medibot.routers)."""
    from medibot.routers import start_unit_of_work

    start_unit_of_work()


@before_task_publish.connect
def carry_request_id(headers: dict[str, object] | None = None, **kwargs: object) -> None:
    """A task queued by a request logs that request's id next to its own task id."""
    from medibot.logs import request_id_var

    request_id = request_id_var.get()
    if headers is not None and request_id and "request_id" not in headers:
        headers["request_id"] = request_id


@task_prerun.connect
def enter_task_log_context(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    from medibot.logs import enter_task

    request = getattr(task, "request", None)
    enter_task(
        task_id=task_id,
        task_name=getattr(task, "name", None),
        request_id=getattr(request, "request_id", None),
    )
    from medibot.metrics import task_started

    task_started(task_id=task_id)


@task_postrun.connect
def leave_task_log_context(
    task_id: str | None = None, task: object = None, state: str | None = None, **kwargs: object
) -> None:
    from medibot.logs import leave_task
    from medibot.metrics import task_finished

    task_finished(task_id=task_id, task_name=getattr(task, "name", "unknown"), state=state or "UNKNOWN")
    leave_task(task_id=task_id)


@worker_ready.connect
def serve_worker_metrics(**kwargs: object) -> None:
    """The worker's task counters and durations on METRICS_WORKER_PORT (private network only)."""
    from django.conf import settings
    from prometheus_client import start_http_server

    from medibot.metrics import registry

    if settings.METRICS_WORKER_PORT:
        start_http_server(settings.METRICS_WORKER_PORT, registry=registry())


app.autodiscover_tasks()
