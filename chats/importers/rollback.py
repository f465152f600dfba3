"""``--rollback RUN_ID``: delete exactly the documents one run inserted, nothing else.

The run's write-ahead batch entries name every key it may have written; a stored document is
deleted only if its ``metadata.import.run`` is this run. Sessions the run created are deleted once
no message is left in them; a session that live traffic has since written to is kept, and every
session the run touched gets its counters recomputed from the messages that remain on each branch
(each branch's highest order left: a live message after a gap stays readable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pymongo
from bson import Int64

from chats import services
from chats.importers import runs
from chats.importers.writer import (
    import_run_of,
    messages_collection,
    sessions_collection,
    usage_collection,
    votes_collection,
)

TIMEOUT_SECONDS = 600


@dataclass
class RollbackReport:
    run_id: str
    messages_deleted: int = 0
    sessions_deleted: int = 0
    sessions_kept: int = 0
    quarantine_deleted: int = 0


def rollback_run(*, run_id: str) -> RollbackReport:
    """Each step has its own deadline (``TIMEOUT_SECONDS``): a large run is rolled back in pieces."""
    with pymongo.timeout(TIMEOUT_SECONDS):
        run = runs.get_run(run_id)
        lock = runs.acquire_lock(run.source_ref)
        lock.beat(run_id=run_id)
    report = RollbackReport(run_id=run_id)
    try:
        for item in runs.batch_keys(run_id):
            with pymongo.timeout(TIMEOUT_SECONDS):
                for user_id, message_ids in item["messages"]:
                    report.messages_deleted += _delete_messages(run_id, int(user_id), message_ids)
                lock.beat()
        for item in runs.batch_keys(run_id):
            with pymongo.timeout(TIMEOUT_SECONDS):
                for user_id, session_ids in item["sessions"]:
                    _settle_sessions(run_id, int(user_id), session_ids, report)
                lock.beat()
        with pymongo.timeout(TIMEOUT_SECONDS):
            report.quarantine_deleted = (
                runs.quarantine_collection().delete_many({"first_run_id": run_id}).deleted_count
            )
            runs.forget_batch_keys(run_id)
            runs.finish(run, state=runs.State.ROLLED_BACK)
        for day in run.day_dates:
            with pymongo.timeout(TIMEOUT_SECONDS):
                services.compute_daily_stats(day=day)
    finally:
        with pymongo.timeout(TIMEOUT_SECONDS):
            lock.release()
    return report


def _delete_messages(run_id: str, user_id: int, message_ids: list[str]) -> int:
    owned = {"user_id": Int64(user_id), "message_id": {"$in": message_ids}}
    found = [
        (document["_id"], document["message_id"])
        for document in messages_collection().find(owned, {"message_id": 1, "metadata.import.run": 1})
        if import_run_of(document) == run_id
    ]
    if not found:
        return 0
    ours = [message_id for _pk, message_id in found]
    # The votes and token usage the run wrote with them (Medibot's own exports carry both).
    extras = {"user_id": Int64(user_id), "message_id": {"$in": [pk for pk, _message_id in found]}}
    votes_collection().delete_many(extras)
    usage_collection().delete_many(extras)
    return (
        messages_collection()
        .delete_many({"user_id": Int64(user_id), "message_id": {"$in": ours}})
        .deleted_count
    )


def _settle_sessions(run_id: str, user_id: int, session_ids: list[str], report: RollbackReport) -> None:
    """Delete the run's sessions left empty; recount every other session the run wrote to."""
    sessions = sessions_collection()
    for document in sessions.find(
        {"user_id": Int64(user_id), "session_id": {"$in": session_ids}},
        {"_id": 1, "session_id": 1, "metadata.import.run": 1, "branches": 1},
    ):
        left = _remaining(user_id, document["_id"])
        owned = {"user_id": Int64(user_id), "session_id": document["session_id"]}
        if import_run_of(document) == run_id and not left:
            report.sessions_deleted += sessions.delete_one(owned).deleted_count
            continue
        if import_run_of(document) == run_id:
            report.sessions_kept += 1
        sessions.update_one(owned, {"$set": _recounted(document, left)})


def _recounted(document: dict[str, Any], left: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """The counters of a session from what is left on each branch: each fork's ``tip`` is the
    highest order left on it (``first - 1`` when none is), branch 0's tip the highest order left
    on it, and ``message_count`` branch 0's tip plus the forks' lengths, so the branch table reads
    every message that is left, live traffic's after a gap included (the highest order over every
    branch, as before, counted a fork's orders as branch 0's)."""
    forks = [
        {**fork, "tip": max(int(left.get(int(fork["id"]), {}).get("order") or 0), int(fork["first"]) - 1)}
        for fork in document.get("branches") or []
    ]
    main_tip = int(left.get(0, {}).get("order") or 0)
    times = [entry["last"] for entry in left.values() if entry.get("last") is not None]
    return {
        "message_count": Int64(main_tip + sum(fork["tip"] - int(fork["first"]) + 1 for fork in forks)),
        "last_message_at": max(times) if times else None,
        "branches": forks,
    }


def _remaining(user_id: int, session_pk: Any) -> dict[int, dict[str, Any]]:
    """The highest order and the latest time left on each branch of a session."""
    return {
        int(entry["_id"] or 0): entry
        for entry in messages_collection().aggregate(
            [
                {"$match": {"user_id": Int64(user_id), "session_id": session_pk}},
                {"$group": {"_id": "$branch", "order": {"$max": "$order"}, "last": {"$max": "$created_at"}}},
            ]
        )
    }
