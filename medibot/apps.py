from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db import DatabaseError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


class MedibotConfig(AppConfig):
    """The project package as an app: process-wide hooks that belong to no domain app."""

    name = "medibot"
    verbose_name = "Medibot core"

    def ready(self) -> None:
        connection_created.connect(count_relational_errors, dispatch_uid="medibot-store-errors")


def count_relational_errors(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Every failed SQL statement of the relational connections counts in ``medibot_store_errors``."""
    if connection.vendor == "mongodb" or _count_errors in connection.execute_wrappers:
        return
    connection.execute_wrappers.append(_count_errors)


def _count_errors(execute: Any, sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
    try:
        return execute(sql, params, many, context)
    except DatabaseError as exc:
        from medibot.metrics import record_store_error

        record_store_error(store=context["connection"].vendor, error=exc)
        raise
