"""Encrypt the existing chat documents in place (or decrypt them: rollback)."""

from __future__ import annotations

from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chats.services.encryption import VerificationFailed, convert_chats


class Command(BaseCommand):
    help = (
        "Encrypt every chat document's content in place under its patient's key, batch by batch, with a "
        "checkpoint (a killed run resumes) and a read-back hash check of each batch. --decrypt reverses it "
        "(rollback before turning CHAT_ENCRYPTION off)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--decrypt", action="store_true", help="decrypt instead (rollback)")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--throttle", type=float, default=0.0, help="seconds to pause between batches")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1 or options["throttle"] < 0:
            raise CommandError("--batch-size must be 1 or more and --throttle 0 or more.")

        def progress(table: str, done: int, total: int) -> None:
            self.stderr.write(f"{table}: {done}/{total}")

        try:
            with pymongo.timeout(24 * 3600):
                report = convert_chats(
                    decrypt=options["decrypt"],
                    batch_size=options["batch_size"],
                    throttle_seconds=options["throttle"],
                    progress=progress,
                )
        except VerificationFailed as exc:
            raise CommandError(f"verification failed: {exc}") from exc
        converted = ", ".join(f"{table} {count}" for table, count in report.converted.items())
        self.stdout.write(
            f"{report.mode}ed {converted}; verified {report.verified} by hash"
            f"{' (resumed)' if report.resumed else ''}"
        )
        if options["decrypt"]:
            self.stdout.write(
                "Search terms are plaintext again: set CHAT_ENCRYPTION=off, then run "
                "`manage.py rebuild_search --restart` so postings and vocabularies follow."
            )
