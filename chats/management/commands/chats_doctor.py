"""``manage.py chats_doctor``: check MySQL, MongoDB (chats), Redis and the chat indexes."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chats.doctor import render_text, run_checks, targets_from_settings


class Command(BaseCommand):
    help = (
        "Check the default database, the chats MongoDB (version, transactions, collections, indexes, "
        "a write/read/delete round trip) and Redis. Exits with status 1 on any problem."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print the report as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = run_checks(targets_from_settings())
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(render_text(report))
        if not report.passed:
            raise CommandError(report.verdict, returncode=1)
