"""DatabaseWrapper of the ``medibot.mongodb`` engine."""

from __future__ import annotations

from django_mongodb_backend import base
from django_mongodb_backend.base import *  # noqa: F403
from django_mongodb_backend.operations import DatabaseOperations as BaseDatabaseOperations


class DatabaseOperations(BaseDatabaseOperations):
    compiler_module = "medibot.mongodb.compiler"


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
