"""The periodic jobs, as django-celery-beat rows (editable in the Django admin).

They are ensured after every ``migrate`` (and after the test runner's flushes) by a ``post_migrate``
handler. Existing rows are never overwritten: an operator who changed a schedule or disabled a job
in the admin keeps that change across deployments.
"""

from __future__ import annotations

from typing import Any

from django.db import router

INTERVAL_TASKS = [
    ("chats: deliver the outbox", "chats.tasks.sync_outbox", 1),
    ("chats: count deferred search terms", "chats.tasks.count_search_terms", 1),
]
CRONTAB_TASKS = [
    ("chats: retention cleanup", "chats.tasks.cleanup_chats", "30", "3"),
    ("chats: daily statistics", "chats.tasks.compute_daily_stats", "15", "0"),
    ("chats: JSON backup of changed conversations", "chats.tasks.backup_chats", "0", "1"),
]


def ensure_schedules(*, using: str = "default") -> int:
    """Create the missing periodic-task rows; returns how many were created."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    created = 0
    for name, task, minutes in INTERVAL_TASKS:
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        every, _ = IntervalSchedule.objects.using(using).get_or_create(
            every=minutes, period=IntervalSchedule.MINUTES
        )
        PeriodicTask.objects.using(using).create(name=name, task=task, interval=every, queue=None)
        created += 1
    for name, task, minute, hour in CRONTAB_TASKS:
        if PeriodicTask.objects.using(using).filter(name=name).exists():
            continue
        at, _ = CrontabSchedule.objects.using(using).get_or_create(
            minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
        )
        PeriodicTask.objects.using(using).create(name=name, task=task, crontab=at)
        created += 1
    return created


def ensure_schedules_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    # Only on the database the rows are written to (not on a read replica's test database).
    if router.db_for_write(PeriodicTask) == using:
        ensure_schedules(using=using)
