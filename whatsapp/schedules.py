"""The channel's periodic job as a django-celery-beat row (created once, never overwritten)."""

from __future__ import annotations

from typing import Any

from django.db import router

RESUME_TASK = ("whatsapp: resume pending messages and replies", "whatsapp.tasks.resume_pending", 1)


def ensure_schedule(*, using: str = "default") -> bool:
    """Create the every-minute row when missing; True when it was created."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    name, task, minutes = RESUME_TASK
    if PeriodicTask.objects.using(using).filter(name=name).exists():
        return False
    every, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=minutes, period=IntervalSchedule.MINUTES
    )
    PeriodicTask.objects.using(using).create(name=name, task=task, interval=every)
    return True


def ensure_schedule_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django_celery_beat.models import PeriodicTask

    if router.db_for_write(PeriodicTask) == using:
        ensure_schedule(using=using)
