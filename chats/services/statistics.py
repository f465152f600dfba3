"""Stored daily statistics."""

from __future__ import annotations

import logging
from datetime import date

from django.utils import timezone

from chats.models import (
    DailyChatStats,
)
from chats.selectors.statistics import totals_for_day

logger = logging.getLogger(__name__)


def compute_daily_stats(*, day: date) -> DailyChatStats:
    """Recompute one UTC day's totals; running it twice gives the same row."""
    totals = totals_for_day(day=day)
    stats, _ = DailyChatStats.objects.update_or_create(
        date=day, defaults={**totals, "computed_at": timezone.now()}
    )
    return stats
