"""django-mongodb-backend's compilers, with flat filter documents (see ``filters.py``)."""

from __future__ import annotations

from typing import Any

from django_mongodb_backend import compiler as base
from django_mongodb_backend.compiler import *  # noqa: F403

from .filters import flatten_filter


class FlatFilterMixin:
    def build_query(self, *args: Any, **kwargs: Any) -> Any:
        query = super().build_query(*args, **kwargs)  # type: ignore[misc]
        query.match_mql = flatten_filter(query.match_mql)
        return query


class SQLCompiler(FlatFilterMixin, base.SQLCompiler):
    pass


class SQLInsertCompiler(FlatFilterMixin, base.SQLInsertCompiler):
    pass


class SQLDeleteCompiler(FlatFilterMixin, base.SQLDeleteCompiler):
    pass


class SQLUpdateCompiler(FlatFilterMixin, base.SQLUpdateCompiler):
    pass


class SQLAggregateCompiler(FlatFilterMixin, base.SQLAggregateCompiler):
    pass
