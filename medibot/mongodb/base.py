"""DatabaseWrapper of the ``medibot.mongodb`` engine."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from django_mongodb_backend import base
from django_mongodb_backend.base import *  # noqa: F403
from django_mongodb_backend.operations import DatabaseOperations as BaseDatabaseOperations

from medibot.mongodb.shard_guard import guard, install


class DatabaseOperations(BaseDatabaseOperations):
    compiler_module = "medibot.mongodb.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        """The client's parameters, with the shard-key guard's listener when
        ``settings.MONGODB_SHARD_KEY_GUARD`` is ``log`` or ``record`` (settings only declare it) and
        the BSON type registry of ``settings.MONGODB_TYPE_REGISTRY``."""
        params: dict[str, Any] = super().get_connection_params()
        mode = getattr(settings, "MONGODB_SHARD_KEY_GUARD", "off")
        current = guard()  # one guard per process: every client of the alias reports to it
        listeners = [current] if current is not None and current.mode == mode else install(mode)
        if listeners:
            params["event_listeners"] = [*params.get("event_listeners", []), *listeners]
        registry = getattr(settings, "MONGODB_TYPE_REGISTRY", "")
        if registry:  # the chat store's decoder of encrypted values (chats.crypto), by dotted path
            params["type_registry"] = import_string(registry)()
        return params
