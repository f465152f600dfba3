"""Recompute the daily chat statistics of one day."""

from __future__ import annotations

from datetime import date
from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from chats import services


class Command(BaseCommand):
    help = "Recompute DailyChatStats for --date (default: today, UTC). Idempotent."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", default=None, help="YYYY-MM-DD")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            day = date.fromisoformat(options["date"]) if options["date"] else timezone.now().date()
        except ValueError as exc:
            raise CommandError("--date must be YYYY-MM-DD") from exc
        with pymongo.timeout(3600):
            stats = services.compute_daily_stats(day=day)
        self.stdout.write(
            f"{stats.date}: {stats.total_sessions} sessions, {stats.total_messages} messages, "
            f"{stats.active_users} active users, {stats.total_tokens} tokens, cost {stats.total_cost}"
        )
