"""Deliver the chat outbox now and print what was delivered and what is left."""

from __future__ import annotations

from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandParser

from chats.outbox import services as outbox


class Command(BaseCommand):
    help = "Deliver queued chat writes to MongoDB now (the same job beat runs every minute)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--retry-failed", action="store_true", help="put failed entries back first")
        parser.add_argument("--batch-size", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry_failed"]:
            self.stdout.write(f"re-queued {outbox.retry_failed()} failed entries")
        with pymongo.timeout(600):
            report = outbox.drain(batch_size=options["batch_size"])
        self.stdout.write(
            f"delivered {report.delivered}, failed {report.failed}, pending {report.pending}, "
            f"failed in total {outbox.failed_count()}"
        )
        if report.stopped_by_outage:
            self.stderr.write("stopped: MongoDB is unreachable; the rest stays queued")
            raise SystemExit(1)
