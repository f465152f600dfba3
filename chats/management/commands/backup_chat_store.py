"""``manage.py backup_chat_store --output DIR``: every chat collection to files (docs/OPERATIONS.md)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pymongo.errors import PyMongoError

from chats.store_backup import RestoreRefused, dump_chat_store


class Command(BaseCommand):
    help = "Back up every collection of the chat store to DIR (Extended JSON lines + a SHA-256 manifest)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", required=True, help="an empty or new directory")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = dump_chat_store(directory=options["output"])
        except RestoreRefused as exc:
            raise CommandError(str(exc)) from exc
        except PyMongoError as exc:
            raise CommandError(f"chat store unavailable ({exc.__class__.__name__})", returncode=3) from exc
        self.stdout.write(
            f"backed up {report.documents} documents of {len(report.collections)} collections "
            f"to {options['output']}"
        )
