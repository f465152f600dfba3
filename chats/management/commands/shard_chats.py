"""Shard the chat collections on ``user_id`` (a MongoDB sharded cluster behind ``mongos``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from chats import sharding


class Command(BaseCommand):
    help = (
        "Enable sharding of the chat database and shard sessions, messages, token usage and votes "
        "on {user_id: 1}. Idempotent. --print writes the equivalent mongosh script instead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--print", action="store_true", help="print the mongosh script, change nothing")
        parser.add_argument(
            "--presplit",
            type=int,
            nargs="*",
            default=[],
            metavar="USER_ID",
            help="split points (user ids) so new users do not all land on the last chunk",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        problems = sharding.incompatible_unique_indexes()
        if problems:
            raise CommandError(f"unique indexes without the shard key as prefix: {', '.join(problems)}")
        steps = sharding.plan(presplit_user_ids=options["presplit"])
        if options["print"]:
            for step in steps:
                self.stdout.write(step.mongosh())
            return
        try:
            sharding.apply(steps)
        except sharding.NotAShardedCluster as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"sharded {len(sharding.SHARDED_COLLECTIONS)} collections on user_id")
