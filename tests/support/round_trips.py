"""Count the store round trips of a block: MongoDB commands and SQL queries on every relational alias."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.test.utils import CaptureQueriesContext

from medibot.mongodb import shard_guard

TRANSACTION_BOOKKEEPING = frozenset({"endSessions"})


@dataclass
class RoundTrips:
    mongo: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.mongo) + len(self.sql)

    def __str__(self) -> str:
        return f"{len(self.mongo)} MongoDB commands {self.mongo} + {len(self.sql)} SQL queries {self.sql}"


@contextmanager
def round_trips() -> Iterator[RoundTrips]:
    """Every MongoDB command the ``chats`` client sends (seen by the shard-key guard, which listens
    to every command) and every SQL query of every relational alias, while the block runs."""
    guard = shard_guard.guard()
    assert guard is not None, "the test settings install the shard-key guard on the chats client"
    counted = RoundTrips()
    started = guard.started

    def count(event: Any) -> None:
        if event.command_name not in TRANSACTION_BOOKKEEPING:
            counted.mongo.append(event.command_name)
        started(event)

    with ExitStack() as stack:
        captures = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in connections
            if connections[alias].vendor != "mongodb"
        ]
        guard.started = count  # type: ignore[method-assign]
        try:
            yield counted
        finally:
            del guard.started
    counted.sql = [query["sql"] for capture in captures for query in capture.captured_queries]
