"""The MongoDB engine's filter rewrite keeps results identical on the real server."""

from __future__ import annotations

import pytest
from bson import Int64

from chats import store
from medibot.mongodb.filters import flatten_filter


def test_and_of_distinct_fields_becomes_one_flat_document() -> None:
    assert flatten_filter({"$and": [{"a": 1}, {"b": {"$gt": 2}}, {"b": {"$lt": 9}}]}) == {
        "a": 1,
        "b": {"$gt": 2, "$lt": 9},
    }


def test_conflicting_conditions_stay_in_an_and() -> None:
    assert flatten_filter({"$and": [{"a": 1}, {"a": 2}]}) == {"a": 1, "$and": [{"a": 2}]}
    two_ors = {"$and": [{"$or": [{"a": 1}]}, {"$or": [{"b": 1}]}]}
    assert flatten_filter(two_ors) == {"$or": [{"a": 1}], "$and": [{"$or": [{"b": 1}]}]}


def test_null_guards_on_comparisons_are_dropped_and_isnull_becomes_equality() -> None:
    assert flatten_filter({"$and": [{"o": {"$gte": 1}}, {"o": {"$exists": True, "$ne": None}}]}) == {
        "o": {"$gte": 1}
    }
    is_null = {"$or": [{"d": {"$exists": False}}, {"d": {"$eq": None}}]}
    assert flatten_filter({"$and": [is_null, {"u": 7}]}) == {"d": None, "u": 7}


@pytest.mark.django_db(databases=["chats"])
@pytest.mark.parametrize(
    "original",
    [
        {"$and": [{"u": 7}, {"o": {"$gte": 2}}, {"o": {"$lte": 4}}, {"o": {"$exists": True, "$ne": None}}]},
        {"$and": [{"$or": [{"d": {"$exists": False}}, {"d": {"$eq": None}}]}, {"u": 7}]},
        {"$and": [{"u": 7}, {"u": 8}]},
        {"$and": [{"o": {"$lte": None}}, {"u": 7}]},
    ],
)
def test_rewritten_filter_matches_the_same_documents(original: dict[str, object]) -> None:
    collection = store.database()["filter_equivalence"]
    collection.delete_many({})
    collection.insert_many(
        [
            {"u": Int64(7), "o": Int64(3), "d": None},
            {"u": Int64(7), "o": Int64(5)},
            {"u": Int64(7), "o": None, "d": 1},
            {"u": Int64(7)},
            {"u": Int64(8), "o": Int64(3)},
        ]
    )
    before = sorted(str(doc["_id"]) for doc in collection.find(original))
    after = sorted(str(doc["_id"]) for doc in collection.find(flatten_filter(original)))
    collection.drop()
    assert after == before
