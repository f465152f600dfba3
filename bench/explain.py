"""The query plans of what the product sends: its aggregations captured, then run with ``explain``."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from bson import SON, Decimal128, Int64, ObjectId
from django.db import connections
from django.test.utils import CaptureQueriesContext
from pymongo.database import Database

from chats import store

_BSON_NAMES = {
    "SON": SON,
    "ObjectId": ObjectId,
    "Decimal128": Decimal128,
    "Int64": Int64,
    "datetime": datetime,
}


def captured_aggregations(action: Callable[[], Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(collection, pipeline) of every aggregate() that ``action`` sent on the chats alias."""
    with CaptureQueriesContext(connections["chats"]) as captured:
        action()
    found = []
    for query in captured.captured_queries:
        prefix, _, rest = query["sql"].partition("(")
        _, collection, operation = prefix.split(".")
        if operation == "aggregate":
            found.append((collection, eval(rest[:-1], _BSON_NAMES, {})))  # noqa: S307 - our own query log
    return found


def plan_of(
    collection: str, pipeline: list[dict[str, Any]], *, database: Database[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Stages of the winning plan and the execution counts of an aggregation's first stage."""
    return _explained(collection, {"aggregate": collection, "pipeline": pipeline, "cursor": {}}, database)


def plan_of_filter(
    collection: str, query: dict[str, Any], *, database: Database[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The same for a plain filter (what ``find_one_and_update`` / ``update_one`` select with)."""
    return _explained(collection, {"find": collection, "filter": query}, database)


def _explained(
    collection: str, command: dict[str, Any], database: Database[dict[str, Any]] | None
) -> dict[str, Any]:
    result = (database if database is not None else store.database()).command(
        "explain", command, verbosity="executionStats"
    )
    cursor = result["stages"][0]["$cursor"] if "stages" in result else result
    plan = cursor["queryPlanner"]["winningPlan"]
    stages: list[str] = []
    index_names: list[str] = []
    while plan:
        stages.append(str(plan.get("stage")))
        if plan.get("indexName"):
            index_names.append(str(plan["indexName"]))
        plan = plan.get("inputStage")
    stats = cursor["executionStats"]
    return {
        "collection": collection,
        "stages": stages,
        "indexes": index_names,
        "uses_index": "IXSCAN" in stages and "COLLSCAN" not in stages,
        "keys_examined": int(stats.get("totalKeysExamined", 0)),
        "docs_examined": int(stats.get("totalDocsExamined", 0)),
        "returned": int(stats.get("nReturned", 0)),
    }


def plans(action: Callable[[], Any]) -> list[dict[str, Any]]:
    return [plan_of(collection, pipeline) for collection, pipeline in captured_aggregations(action)]
