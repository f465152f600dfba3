"""Count the store round trips of a block: MongoDB commands, SQL queries on every relational alias, and
the recent-history cache's round trips (a Redis pipeline or command is one; with a local Django cache,
each call of its backend, which would be one pipeline on Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django.db import connections
from django.test.utils import CaptureQueriesContext
from redis.client import Pipeline, Redis

from chats import recent_history
from medibot.mongodb import shard_guard

TRANSACTION_BOOKKEEPING = frozenset({"endSessions"})


@dataclass
class RoundTrips:
    mongo: list[str] = field(default_factory=list)  # "<command> <collection>" (or the command alone)
    sql: list[str] = field(default_factory=list)
    cache: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.mongo) + len(self.sql) + len(self.cache)

    def __str__(self) -> str:
        return (
            f"{len(self.mongo)} MongoDB commands {self.mongo} + {len(self.sql)} SQL queries {self.sql}"
            f" + {len(self.cache)} cache round trips {self.cache}"
        )


def _counting(method: Any, label: str, counted: list[str]) -> Any:
    """``method`` counting each call as one round trip; on a redis client only the recent-history
    cache's own connection pool counts (not throttles, the health probe or the Celery broker)."""

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        pool = getattr(self, "connection_pool", None)
        if pool is None or pool in _recent_history_pools():
            counted.append(label if label else str(args[0]))
        return method(self, *args, **kwargs)

    return call


def _recent_history_pools() -> list[Any]:
    client = getattr(caches[recent_history.CACHE_ALIAS], "_cache", None)
    return list(getattr(client, "_pools", {}).values())


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
            name, target = event.command_name, event.command.get(event.command_name)
            counted.mongo.append(f"{name} {target}" if isinstance(target, str) else name)
        started(event)

    with ExitStack() as stack:
        captures = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in connections
            if connections[alias].vendor != "mongodb"
        ]
        guard.started = count  # type: ignore[method-assign]
        patches = [
            (Pipeline, "execute", "redis pipeline"),
            (Redis, "execute_command", ""),
            *(
                (recent_history._DjangoCacheBackend, name, f"local cache {name}")
                for name in ("write", "read_session", "read_index", "purge_session", "purge_user")
            ),
        ]
        for owner, name, label in patches:
            stack.callback(setattr, owner, name, getattr(owner, name))
            setattr(owner, name, _counting(getattr(owner, name), label, counted.cache))
        try:
            yield counted
        finally:
            del guard.started
    counted.sql = [query["sql"] for capture in captures for query in capture.captured_queries]
