"""Rebuild the search data (terms, postings, vocabulary) of stored messages: resumable, in order.

A user's vocabulary is dropped and counted again from their messages read oldest first, one day
of messages at a time (an index range on ``message_user_time_idx``, sorted in memory: no
index-backed sort), so every term's buckets follow time again. After each day the position is
saved in ``chat_search_rebuild``; a run stopped anywhere starts again from the last saved day (a
day written twice only counts its terms twice, which widens a bucket, never loses a term).
Messages and titles are stemmed in the owner's search language as it is now (their profile's;
detected per message for ``auto``): the way to re-stem a user's history after they change it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Int64
from pymongo import UpdateOne

from accounts.selectors import search_language_of, search_languages
from chats import search, search_index, store
from chats.models import ChatMessage, ChatSession
from medibot.mongodb.shard_guard import unscoped

logger = logging.getLogger(__name__)

CHECKPOINT_ID = "rebuild_search"
WINDOW = timedelta(days=1)


@dataclass
class RebuildReport:
    users: int = 0
    messages: int = 0
    resumed_from_user: int | None = None


def _checkpoints() -> Any:
    return store.database()["chat_search_rebuild"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def rebuild_search(
    *,
    user_ids: list[int] | None = None,
    restart: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> RebuildReport:
    """Rebuild every user's (or ``user_ids``') search data; ``progress(user_id, messages)`` after
    each user. Resumes an unfinished run unless ``restart``."""
    report = RebuildReport()
    checkpoint = None if restart else _checkpoints().find_one({"_id": CHECKPOINT_ID})
    if user_ids is None:
        with unscoped("rebuild_search: every user's sessions"):
            user_ids = sorted(int(uid) for uid in store.collection(ChatSession).distinct("user_id"))
    start_at: datetime | None = None
    if checkpoint and not checkpoint.get("finished") and checkpoint.get("user_id") in user_ids:
        report.resumed_from_user = int(checkpoint["user_id"])
        user_ids = user_ids[user_ids.index(report.resumed_from_user) :]
        start_at = _aware(checkpoint["next_window"])
    for user_id in user_ids:
        count = _rebuild_user(user_id, resume_at=start_at)
        start_at = None
        report.users += 1
        report.messages += count
        if progress is not None:
            progress(user_id, count)
    _checkpoints().update_one({"_id": CHECKPOINT_ID}, {"$set": {"finished": True}}, upsert=True)
    return report


def _message_span(owner: Int64) -> tuple[datetime, datetime] | None:
    """The times of a user's oldest and newest messages (their sessions' times do not bound them:
    a turn's question is stamped before the session it starts is created). One pass over the
    user's messages, as the rebuild itself makes."""
    found = list(
        store.collection(ChatMessage).aggregate(
            [
                {"$match": {"user_id": owner}},
                {"$group": {"_id": None, "first": {"$min": "$created_at"}, "last": {"$max": "$created_at"}}},
            ]
        )
    )
    if not found or found[0]["first"] is None:
        return None
    return _aware(found[0]["first"]), _aware(found[0]["last"])


def _rebuild_user(user_id: int, *, resume_at: datetime | None) -> int:
    owner = Int64(user_id)
    sessions = list(store.collection(ChatSession).find({"user_id": owner}, {"title": 1}))
    if not sessions:
        return 0
    language = search_language_of(user_id=user_id)
    if resume_at is None:
        search_index.forget_user(user_id)
        store.collection(ChatSession).bulk_write(
            [
                UpdateOne(
                    {"user_id": owner, "_id": s["_id"]},
                    {"$set": {"search_terms": search.document_keys(user_id, s.get("title") or "", language)}},
                )
                for s in sessions
            ],
            ordered=False,
        )
    messages = store.collection(ChatMessage)
    span = _message_span(owner)
    if span is None:
        return 0
    first, last = resume_at or span[0], span[1]
    done = 0
    window = first
    while window <= last:
        upper = window + WINDOW
        documents = sorted(
            messages.find(
                {"user_id": owner, "created_at": {"$gte": window, "$lt": upper}},
                {"user_id": 1, "content": 1, "created_at": 1},
            ),
            key=lambda d: (d["created_at"], d["_id"]),
        )
        for document in documents:
            document["search_terms"] = search.document_keys(user_id, document.get("content", ""), language)
        if documents:
            search_index.index_documents(documents, language=language)
            messages.bulk_write(
                [
                    UpdateOne(
                        {"user_id": owner, "_id": d["_id"]},
                        {
                            "$set": {
                                "search_terms": d["search_terms"],
                                "search_postings": d["search_postings"],
                            },
                            "$unset": {search_index.UNCOUNTED: ""},  # counted just now
                        },
                    )
                    for d in documents
                ],
                ordered=False,
            )
        done += len(documents)
        window = upper
        _checkpoints().update_one(
            {"_id": CHECKPOINT_ID},
            {"$set": {"user_id": user_id, "next_window": window, "finished": False}},
            upsert=True,
        )
    logger.info("search rebuilt", extra={"user_id": user_id, "messages": done})
    return done


def count_deferred_terms(*, user_id: int | None = None) -> int:
    """Count the vocabulary terms the live append path deferred (``search_index``): one user's,
    or (``user_id=None``, the job that runs every minute) those of every user who has some.
    Returns how many messages were counted."""
    user_ids = [user_id] if user_id is not None else search_index.users_with_deferred_counts()
    languages = search_languages(user_ids=user_ids)
    counted = 0
    for owner in user_ids:
        while True:  # a backlog larger than one batch (no worker ran for a while)
            done = search_index.count_deferred(owner, language=languages[owner])
            counted += done
            if done < search_index.COUNT_BATCH:
                break
    if counted:
        logger.info("deferred search terms counted", extra={"users": len(user_ids), "messages": counted})
    return counted
