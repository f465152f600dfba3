"""Run the aggregations a block of code sent to MongoDB again with ``explain``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bson import SON, Decimal128, Int64, ObjectId
from django.db import connections
from django.test.utils import CaptureQueriesContext

from chats import store

BSON_NAMES = {
    "SON": SON,
    "ObjectId": ObjectId,
    "Decimal128": Decimal128,
    "Int64": Int64,
    "datetime": __import__("datetime"),
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
            found.append((collection, eval(rest[:-1], BSON_NAMES, {})))  # noqa: S307 - our own query log
    return found


def explain(collection: str, pipeline: list[dict[str, Any]]) -> dict[str, Any]:
    """executionStats of the first (``$match``) stage of ``pipeline``."""
    result = store.database().command(
        "explain", {"aggregate": collection, "pipeline": pipeline, "cursor": {}}, verbosity="executionStats"
    )
    cursor = result["stages"][0]["$cursor"] if "stages" in result else result
    plan = cursor["queryPlanner"]["winningPlan"]
    stages = []
    while plan:
        stages.append(plan.get("stage"))
        plan = plan.get("inputStage")
    return {"stages": stages, **cursor["executionStats"]}
