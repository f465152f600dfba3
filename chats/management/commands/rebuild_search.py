"""Rebuild the search data of stored messages (after issue 19's migration, or to repair it)."""

from __future__ import annotations

from typing import Any

import pymongo
from django.core.management.base import BaseCommand, CommandParser

from chats.services.search_rebuild import rebuild_search


class Command(BaseCommand):
    help = (
        "Recompute every message's search terms and postings and each user's vocabulary, oldest "
        "messages first; resumes an interrupted run unless --restart."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", type=int, action="append", dest="users", help="only this user id")
        parser.add_argument("--restart", action="store_true", help="ignore an unfinished run's position")

    def handle(self, *args: Any, **options: Any) -> None:
        def progress(user_id: int, messages: int) -> None:
            self.stdout.write(f"user {user_id}: {messages} messages")

        with pymongo.timeout(3600):
            report = rebuild_search(user_ids=options["users"], restart=options["restart"], progress=progress)
        resumed = f" (resumed at user {report.resumed_from_user})" if report.resumed_from_user else ""
        self.stdout.write(f"rebuilt search data of {report.users} users, {report.messages} messages{resumed}")
