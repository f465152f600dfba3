"""``manage.py restore_chat_store --input DIR``: a ``backup_chat_store`` backup into an empty store."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pymongo.errors import PyMongoError

from chats.store_backup import RestoreRefused, restore_chat_store


class Command(BaseCommand):
    help = "Restore a backup_chat_store backup into the migrated, empty chat database."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--input", required=True, help="the backup directory (with manifest.json)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = restore_chat_store(directory=options["input"])
        except RestoreRefused as exc:
            raise CommandError(str(exc)) from exc
        except PyMongoError as exc:
            raise CommandError(f"chat store unavailable ({exc.__class__.__name__})", returncode=3) from exc
        self.stdout.write(
            f"restored {report.documents} documents of {len(report.collections)} collections "
            f"from {options['input']}"
        )
