"""The shard-key guard: every chat query on the request path must name ``user_id``.

On a sharded cluster ``mongos`` routes a command to one shard only when its filter fixes the
shard key; anything else is broadcast to every shard (a "scatter-gather"), which is what stops a
cluster from scaling. Medibot shards its per-user collections on ``user_id`` (see
docs/SCALING.md), so every ``find``/``aggregate``/``update``/``delete``/``count``/``distinct``/
``findAndModify`` against them must carry ``user_id`` in its filter.

``ShardKeyGuard`` is a pymongo ``CommandListener`` installed on the ``chats`` client (setting
``MONGODB_SHARD_KEY_GUARD``): ``off`` (production default), ``log`` (a warning naming the
collection and command, never the filter's values) or ``record`` (the test suite: violations are
collected and any test that causes one fails). Deliberately cluster-wide work — staff-wide
statistics, retention cleanup, backups, migrations, the Django admin — runs inside
``unscoped("reason")`` and is listed in docs/SCALING.md; such work runs as background jobs or for
staff only, never on a patient's request path.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import sysconfig
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pymongo import monitoring

logger = logging.getLogger(__name__)

SHARD_KEY = "user_id"
# The per-user collections, sharded on ``user_id``. ``chat_daily_stats`` (one small document per
# day, written by a nightly job) and the migration bookkeeping stay unsharded on the primary shard.
SHARDED_COLLECTIONS = frozenset(
    {"chat_sessions", "chat_messages", "chat_token_usage", "chat_message_votes", "chat_search_terms"}
)

_exemption: contextvars.ContextVar[str | None] = contextvars.ContextVar("shard_key_exemption", default=None)


@contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Run cluster-wide chat queries on purpose (background jobs, staff-wide views)."""
    token = _exemption.set(reason)
    try:
        yield
    finally:
        _exemption.reset(token)


def current_exemption() -> str | None:
    return _exemption.get()


@dataclass(frozen=True)
class Violation:
    """A chat command that a sharded cluster would broadcast to every shard."""

    command: str
    collection: str
    fields: tuple[str, ...]  # top-level field names of the offending filter (never values)
    origin: str = ""  # file:line of the code that asked for the query (record mode)

    def __str__(self) -> str:
        where = f" from {self.origin}" if self.origin else ""
        fields = list(self.fields)
        return f"{self.command} on {self.collection} without {SHARD_KEY}{where} (filter fields: {fields})"


def _targets_one_key(value: Any) -> bool:
    if isinstance(value, Mapping):
        if "$eq" in value:
            return True
        if "$in" in value:
            return isinstance(value["$in"], list | tuple) and len(value["$in"]) > 0
        return False
    return value is not None


def is_targeted(query: Mapping[str, Any] | None) -> bool:
    """Does the filter fix the shard key (equality or a non-empty ``$in``)?"""
    if not query:
        return False
    if SHARD_KEY in query and _targets_one_key(query[SHARD_KEY]):
        return True
    conjuncts = query.get("$and")
    if isinstance(conjuncts, list):
        return any(isinstance(part, Mapping) and is_targeted(part) for part in conjuncts)
    return False


def _pipeline_filter(pipeline: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if pipeline and isinstance(pipeline[0], Mapping):
        match = pipeline[0].get("$match")
        if isinstance(match, Mapping):
            return match
    return None


def command_filters(name: str, command: Mapping[str, Any]) -> list[Mapping[str, Any] | None]:
    """The filters a command applies to its collection (empty for commands we do not check)."""
    if name == "find":
        return [command.get("filter")]
    if name == "aggregate":
        return [_pipeline_filter(list(command.get("pipeline", [])))]
    if name == "update":
        return [update.get("q") for update in command.get("updates", [])]
    if name == "delete":
        return [delete.get("q") for delete in command.get("deletes", [])]
    if name in ("count", "distinct"):
        return [command.get("query")]
    if name == "findAndModify":
        return [command.get("query")]
    return []


_LIBRARY_PATHS = tuple(
    {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
)
_THIS_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _origin() -> tuple[str, bool]:
    """``(file:line, is_test_code)`` of the innermost caller outside libraries and this engine.

    A query asked for by a test itself (an assertion that counts documents) is not product code
    and is not checked; one asked for by product code that a test called is.
    """
    frame = sys._getframe(2)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_LIBRARY_PATHS) and not filename.startswith(_THIS_PACKAGE):
            parts = filename.split(os.sep)
            return f"{os.sep.join(parts[-2:])}:{frame.f_lineno}", "tests" in parts
        frame = frame.f_back  # type: ignore[assignment]
    return "", False


class ShardKeyGuard(monitoring.CommandListener):
    """Checks every command sent to a sharded chat collection for the shard key."""

    def __init__(self, mode: str, *, on_violation: Callable[[Violation], None] | None = None) -> None:
        if mode not in ("off", "log", "record"):
            raise ValueError(f"MONGODB_SHARD_KEY_GUARD must be off, log or record, not {mode!r}")
        self.mode = mode
        self.on_violation = on_violation
        self._lock = threading.Lock()
        self._violations: list[Violation] = []

    def check(self, name: str, command: Mapping[str, Any]) -> list[Violation]:
        collection = command.get(name)
        if not isinstance(collection, str) or collection not in SHARDED_COLLECTIONS:
            return []
        found = []
        for query in command_filters(name, command):
            if not is_targeted(query):
                found.append(Violation(name, collection, tuple(sorted((query or {}).keys()))))
        return found

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.mode == "off" or current_exemption() is not None:
            return
        found = self.check(event.command_name, event.command)
        if not found:
            return
        if self.mode == "record":
            origin, from_tests = _origin()
            if from_tests:
                return
            found = [Violation(v.command, v.collection, v.fields, origin) for v in found]
        for violation in found:
            if self.mode == "log":
                logger.warning("chat query without the shard key: %s", violation)
            else:
                with self._lock:
                    self._violations.append(violation)
            if self.on_violation is not None:
                self.on_violation(violation)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None

    def take_violations(self) -> list[Violation]:
        """The violations recorded since the last call (and forget them)."""
        with self._lock:
            found, self._violations = self._violations, []
        return found


_guard: ShardKeyGuard | None = None


def install(mode: str) -> list[monitoring.CommandListener]:
    """The listeners for the ``chats`` client's OPTIONS (``event_listeners``)."""
    global _guard
    if mode == "off":
        return []
    _guard = ShardKeyGuard(mode)
    return [_guard]


def guard() -> ShardKeyGuard | None:
    return _guard


class AdminScopeMiddleware:
    """Staff browsing in the Django admin is cluster-wide by nature: exempt it from the guard."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        if request.path.startswith("/admin/"):
            with unscoped("django admin (staff)"):
                return self.get_response(request)
        return self.get_response(request)
