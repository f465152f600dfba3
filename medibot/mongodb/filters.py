"""Equivalent, index-friendly rewrites of the filter documents django-mongodb-backend emits."""

from __future__ import annotations

from typing import Any

_COMPARISONS = frozenset({"$gt", "$gte", "$lt", "$lte"})


def _is_operator_document(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(key).startswith("$") for key in value)


def _is_null(value: Any) -> bool:
    return value is None or value == {"$eq": None}


def _simplify_field(condition: Any) -> Any:
    """``{"$gte": 5, "$exists": True, "$ne": None}`` -> ``{"$gte": 5}``.

    A comparison with a non-null value never matches null or a missing field, so the SQL-style
    NULL guards add nothing but keep some planners from using an index.
    """
    if not _is_operator_document(condition):
        return condition
    if any(op in _COMPARISONS and condition[op] is not None for op in condition):
        condition = {
            op: value
            for op, value in condition.items()
            if not (op == "$exists" and value is True) and not (op == "$ne" and value is None)
        }
    return condition


def _simplify_is_null(part: dict[str, Any]) -> dict[str, Any]:
    """``{"$or": [{"f": {"$exists": False}}, {"f": {"$eq": None}}]}`` -> ``{"f": None}`` (same matches)."""
    branches = part.get("$or")
    if list(part) != ["$or"] or not isinstance(branches, list) or len(branches) != 2:
        return part
    fields = {next(iter(branch)) for branch in branches if isinstance(branch, dict) and len(branch) == 1}
    if len(fields) != 1:
        return part
    field = fields.pop()
    conditions = [branch[field] for branch in branches]
    if {"$exists": False} in conditions and any(_is_null(c) for c in conditions):
        return {field: None}
    return part


def flatten_filter(mql: Any) -> Any:
    """Merge ``{"$and": [{"a": 1}, {"b": {"$gt": 2}}, {"b": {"$lt": 9}}]}`` into
    ``{"a": 1, "b": {"$gt": 2, "$lt": 9}}``.

    Conditions that cannot be merged without changing the meaning (two equalities on one field,
    two ``$or``, the same operator twice) stay in a remaining ``$and``.
    """
    if not isinstance(mql, dict):
        return mql
    if list(mql) != ["$and"] or not isinstance(mql["$and"], list):
        simplified = _simplify_is_null(mql)
        return {
            key: _simplify_field(value) if not key.startswith("$") else value
            for key, value in simplified.items()
        }
    merged: dict[str, Any] = {}
    remaining: list[dict[str, Any]] = []
    for part in mql["$and"]:
        part = flatten_filter(part)
        if not isinstance(part, dict):
            return mql
        for key, condition in part.items():
            if key == "$and":
                remaining.extend(condition)
            elif key not in merged:
                merged[key] = condition
            elif (
                not key.startswith("$")
                and _is_operator_document(merged[key])
                and _is_operator_document(condition)
                and not set(merged[key]) & set(condition)
            ):
                merged[key] = _simplify_field({**merged[key], **condition})
            else:
                remaining.append({key: condition})
    if remaining:
        merged["$and"] = remaining
    return merged
