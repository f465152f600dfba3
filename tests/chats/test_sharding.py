"""The chat collections are ready for a sharded cluster: key, unique indexes, the shard_chats command."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from chats import sharding, store
from medibot.mongodb.shard_guard import ShardKeyGuard, is_targeted

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def test_every_unique_index_of_a_sharded_collection_starts_with_the_shard_key() -> None:
    database = store.database()
    uniques = {
        (collection, name)
        for collection in sharding.SHARDED_COLLECTIONS
        for name, info in database[collection].index_information().items()
        if info.get("unique")
    }

    assert len(uniques) == 6  # the five collections' own unique indexes, none forgotten
    assert sharding.incompatible_unique_indexes() == []


def test_print_gives_the_mongosh_script_for_every_sharded_collection() -> None:
    out = StringIO()

    call_command("shard_chats", "--print", "--presplit", "1000", stdout=out)

    lines = out.getvalue().splitlines()
    name = connections["chats"].settings_dict["NAME"]
    assert lines[0] == f'sh.enableSharding("{name}")'
    for collection in (
        "chat_sessions",
        "chat_messages",
        "chat_token_usage",
        "chat_message_votes",
        "chat_search_terms",
    ):
        assert f'sh.shardCollection("{name}.{collection}", {{ user_id: 1 }})' in lines
        assert f'sh.splitAt("{name}.{collection}", {{ user_id: 1000 }})' in lines


def test_shard_chats_refuses_a_server_that_is_not_a_mongos() -> None:
    with pytest.raises(CommandError, match="mongos"):
        call_command("shard_chats", stdout=StringIO())


@pytest.mark.parametrize(
    ("query", "targeted"),
    [
        ({"user_id": 7}, True),
        ({"user_id": 7, "session_id": "s"}, True),
        ({"user_id": {"$in": [1, 2]}}, True),
        ({"$and": [{"user_id": 7}, {"order": {"$gte": 3}}]}, True),
        ({"user_id": {"$in": []}}, False),
        ({"user_id": {"$gt": 5}}, False),
        ({"_id": "x"}, False),
        ({}, False),
        (None, False),
    ],
)
def test_a_filter_is_targeted_only_when_it_fixes_the_shard_key(
    query: dict[str, object] | None, targeted: bool
) -> None:
    assert is_targeted(query) is targeted


def test_the_guard_flags_every_kind_of_untargeted_command_on_sharded_collections_only() -> None:
    guard = ShardKeyGuard("record")
    commands: dict[str, dict[str, Any]] = {
        "find": {"find": "chat_messages", "filter": {"session_id": 1}},
        "aggregate": {"aggregate": "chat_sessions", "pipeline": [{"$match": {"_id": 1}}]},
        "update": {"update": "chat_sessions", "updates": [{"q": {"user_id": 1}}, {"q": {"_id": 2}}]},
        "delete": {"delete": "chat_message_votes", "deletes": [{"q": {}}]},
        "count": {"count": "chat_token_usage", "query": {}},
        "findAndModify": {"findAndModify": "chat_messages", "query": {"message_id": "m"}},
    }

    flagged = {name: len(guard.check(name, command)) for name, command in commands.items()}

    assert flagged == {"find": 1, "aggregate": 1, "update": 1, "delete": 1, "count": 1, "findAndModify": 1}
    assert guard.check("find", {"find": "chat_daily_stats", "filter": {}}) == []
