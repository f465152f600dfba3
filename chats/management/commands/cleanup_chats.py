"""Run the retention cleanup now."""

from __future__ import annotations

from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandParser

from chats import services


class Command(BaseCommand):
    help = (
        "Purge sessions soft-deleted more than CHAT_SOFT_DELETE_DAYS ago and apply retention to sessions "
        "not updated for --days-old days (CHAT_RETENTION_ACTION: archive or purge). Legal holds are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days-old", type=int, default=None, help="default: CHAT_RETENTION_DAYS")
        parser.add_argument("--dry-run", action="store_true", help="count only, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        with pymongo.timeout(3600):
            report = services.cleanup_chats(days_old=options["days_old"], dry_run=options["dry_run"])
        prefix = "would purge" if report.dry_run else "purged"
        self.stdout.write(
            f"{prefix} {report.purged_sessions} sessions ({report.purged_messages} messages); "
            f"retention ({report.retention_action}): {report.retained_sessions} sessions"
        )
