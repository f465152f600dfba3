"""Fill the chat store with realistic generated conversations (benchmarks, demos, load tests)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chats.fake_data import generate_chats


class Command(BaseCommand):
    help = (
        "Create --users patient accounts (generated-00001, …; reused when present), each with --sessions "
        "new sessions of --messages messages, stored exactly as the chat services store them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--users", type=int, default=1)
        parser.add_argument("--sessions", type=int, default=10, help="sessions per user")
        parser.add_argument("--messages", type=int, default=20, help="messages per session")
        parser.add_argument("--seed", type=int, default=0, help="same seed, same texts")
        parser.add_argument("--prefix", default="generated", help="username prefix of the accounts")

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("users", "sessions", "messages"):
            if options[name] < 0:
                raise CommandError(f"--{name} must be zero or more")
        started = time.monotonic()
        result = generate_chats(
            users=options["users"],
            sessions=options["sessions"],
            messages=options["messages"],
            seed=options["seed"],
            prefix=options["prefix"],
        )
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{len(result.user_ids)} users, {result.sessions} sessions, {result.messages} messages, "
            f"{result.token_usage} token usage rows in {elapsed:.1f}s"
        )
