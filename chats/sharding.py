"""Sharding the chat collections on a MongoDB sharded cluster (docs/SCALING.md).

Shard key: ``{user_id: 1}`` (ranged) on the four per-user collections. Every request-path query
carries ``user_id`` (enforced by ``medibot.mongodb.shard_guard`` in the test suite), and every
unique index starts with ``user_id`` — MongoDB enforces a unique index on a sharded collection
only when the shard key is its prefix, and only for *ranged* shard keys, which is why the key is
ranged rather than hashed. ``chat_daily_stats`` and the migration bookkeeping stay unsharded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connections
from pymongo.errors import OperationFailure

from chats import store
from medibot.mongodb.shard_guard import SHARD_KEY, SHARDED_COLLECTIONS
from medibot.routers import CHATS_ALIAS

SHARD_KEY_PATTERN: dict[str, Any] = {SHARD_KEY: 1}


class NotAShardedCluster(Exception):
    """The ``chats`` connection does not lead to a ``mongos``."""


@dataclass(frozen=True)
class ShardingStep:
    command: dict[str, Any]

    def mongosh(self) -> str:
        name, target = next(iter(self.command.items()))
        if name == "enableSharding":
            return f'sh.enableSharding("{target}")'
        if name == "shardCollection":
            return f'sh.shardCollection("{target}", {{ {SHARD_KEY}: 1 }})'
        return f'sh.splitAt("{target}", {{ {SHARD_KEY}: {self.command["middle"][SHARD_KEY]} }})'


def incompatible_unique_indexes() -> list[str]:
    """Unique indexes of the sharded collections that do not start with the shard key."""
    database = store.database()
    problems = []
    for collection in sorted(SHARDED_COLLECTIONS):
        for name, info in database[collection].index_information().items():
            if name == "_id_" or not info.get("unique"):
                continue
            if info["key"][0][0] != SHARD_KEY:
                problems.append(f"{collection}.{name}")
    return problems


def plan(*, presplit_user_ids: list[int] | None = None) -> list[ShardingStep]:
    """The admin commands that shard the chat collections (pre-splitting at the given user ids)."""
    name = connections[CHATS_ALIAS].settings_dict["NAME"]
    steps = [ShardingStep({"enableSharding": name})]
    for collection in sorted(SHARDED_COLLECTIONS):
        steps.append(ShardingStep({"shardCollection": f"{name}.{collection}", "key": SHARD_KEY_PATTERN}))
        for user_id in presplit_user_ids or []:
            steps.append(ShardingStep({"split": f"{name}.{collection}", "middle": {SHARD_KEY: user_id}}))
    return steps


def apply(steps: list[ShardingStep]) -> None:
    """Run the plan on the cluster; refuses anything but a ``mongos``."""
    admin = store.client().admin
    if admin.command("hello").get("msg") != "isdbgrid":
        raise NotAShardedCluster(
            "MONGODB_URI does not point at a mongos router; sharding needs a sharded cluster "
            "(use --print to get the mongosh script)."
        )
    for step in steps:
        try:
            admin.command(step.command)
        except OperationFailure as exc:
            if exc.code in (20, 23):  # AlreadyInitialized / already sharded: idempotent re-run
                continue
            raise
