"""Database routing.

* Every chat model lives on MongoDB (``chats``); everything else on the relational ``default``.
* With ``MYSQL_REPLICA_*`` set there is also a ``replica`` alias: a read replica of ``default``.
  Reads go there only when the code asked for it (``lag_tolerant()``: lists and reports that may
  be a second behind) and only while the current request/task has not written to ``default`` yet,
  so a request always reads its own writes. Everything else — writes, reads in transactions,
  ``select_for_update``, EHR, auth, the outbox — stays on the primary.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db.models import Model

CHATS_ALIAS = "chats"
DEFAULT_ALIAS = "default"
REPLICA_ALIAS = "replica"
MONGODB_APPS = frozenset({"chats"})

_lag_tolerant: contextvars.ContextVar[bool] = contextvars.ContextVar("lag_tolerant", default=False)
_wrote_primary: contextvars.ContextVar[bool] = contextvars.ContextVar("wrote_primary", default=False)


def database_for_app(app_label: str) -> str:
    return CHATS_ALIAS if app_label in MONGODB_APPS else DEFAULT_ALIAS


def replica_configured() -> bool:
    """A replica alias exists and reads may use it (``REPLICA_READS``; the test settings turn it
    off because their replica database is not replicated, and the routing tests turn it on)."""
    return REPLICA_ALIAS in settings.DATABASES and getattr(settings, "REPLICA_READS", True)


@contextmanager
def lag_tolerant() -> Iterator[None]:
    """Relational reads inside may be served by the read replica (usable as a decorator too)."""
    token = _lag_tolerant.set(True)
    try:
        yield
    finally:
        _lag_tolerant.reset(token)


def start_unit_of_work() -> None:
    """A new request or task: it has written nothing yet (see ``ReplicaPinningMiddleware``)."""
    _wrote_primary.set(False)


class DatabaseRouter:
    """Keeps each app on its own database; refuses relations that would cross databases."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        alias = database_for_app(model._meta.app_label)
        if alias == DEFAULT_ALIAS and self._replica_may_answer():
            return REPLICA_ALIAS
        return alias

    @staticmethod
    def _replica_may_answer() -> bool:
        if not (_lag_tolerant.get() and replica_configured()) or _wrote_primary.get():
            return False
        from django.db import connections

        return not connections[DEFAULT_ALIAS].in_atomic_block

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        alias = database_for_app(model._meta.app_label)
        if alias == DEFAULT_ALIAS:
            _wrote_primary.set(True)
        return alias

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return database_for_app(obj1._meta.app_label) == database_for_app(obj2._meta.app_label)

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        home = database_for_app(app_label)
        # A replica gets the same schema (tests create it; in production replication does).
        return db == home or (db == REPLICA_ALIAS and home == DEFAULT_ALIAS)


class ReplicaPinningMiddleware:
    """Each request starts unpinned; its first write pins its remaining reads to the primary."""

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: Any) -> Any:
        start_unit_of_work()
        return self.get_response(request)
