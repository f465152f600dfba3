"""The floor: each operation done with plain pymongo on the same server and collections.

Every function does the storage work the product does for the same request (same documents with
their search terms and content hash, same transactions, same results and ownership checks) and
nothing else: no models, no serializers, no Django. SecantusDB uses an index only when every field
of a filter is in it, so the floor keeps every filter within one index: a session is selected by
``(user_id, session_id)`` (its unique index) and a deleted one refused after the read, in the
same transaction; the product's ``{_id, user_id, deleted_at}`` scans the whole collection.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bson import Decimal128, Int64, ObjectId
from pymongo import ReturnDocument
from pymongo.client_session import ClientSession
from pymongo.database import Database
from pymongo.mongo_client import MongoClient

from chats import branches, search, selectors
from chats.responders import offline
from chats.responders.base import Turn

Document = dict[str, Any]
TITLE_CHARS = 80


def now() -> datetime:
    moment = datetime.now(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def message_document(
    *,
    session: Document,
    role: str,
    content: str,
    model: str = "",
    parent: str = "",
    metadata: Document | None = None,
) -> Document:
    return {
        "_id": ObjectId(),
        "message_id": str(uuid.uuid4()),
        "session_id": session["_id"],
        "user_id": session["user_id"],
        "role": role,
        "content": content,
        "order": 0,
        "status": "completed",
        "model": model,
        "source_documents": [],
        "agent_steps": [],
        "attachments": [],
        "error_info": {},
        "metadata": metadata or {},
        "parent_message_id": parent,
        "content_hash": hashlib.sha256(content.encode("utf-8")).hexdigest(),
        "search_terms": search.terms_for(content),
        "created_at": now(),
    }


def _title(text: str) -> str:
    collapsed = " ".join(text.split())
    return collapsed if len(collapsed) <= TITLE_CHARS else collapsed[: TITLE_CHARS - 1] + "…"


def store_messages(
    client: MongoClient[Document],
    db: Database[Document],
    session: Document,
    messages: list[Document],
    usage: Document | None = None,
    *,
    transaction: bool = True,
    find_and_modify: bool = False,
) -> None:
    """The messages with the next order numbers and the session's counters, in one transaction.

    The counter moves with ``update_one`` and is read back with ``find_one`` in the same transaction
    (the transaction makes the pair atomic): on SecantusDB ``find_one_and_update`` costs time in
    proportion to the collection, ``update_one`` does not. ``find_and_modify`` and
    ``transaction=False`` exist only to measure those costs (bench/workloads.py ``append_costs``).
    """
    last_at = max(message["created_at"] for message in messages)
    owned = {"user_id": Int64(session["user_id"]), "session_id": session["session_id"]}
    counters = {
        "$inc": {"message_count": len(messages)},
        "$max": {"last_message_at": last_at, "updated_at": last_at},
    }

    def write(txn: ClientSession | None) -> None:
        state = count_messages(db, owned, counters, txn=txn, find_and_modify=find_and_modify)
        if state is None or state.get("deleted_at") is not None:
            raise LookupError("session not found")  # aborts the transaction: nothing written
        first_user = next((m for m in messages if m["role"] == "user"), None)
        if not state.get("title") and first_user is not None:
            title = _title(first_user["content"])
            db.chat_sessions.update_one(
                owned,
                {"$set": {"title": title, "search_terms": search.terms_for(title)}},
                session=txn,
            )
        first = int(state["message_count"]) - len(messages) + 1
        for offset, message in enumerate(messages):
            message["order"] = first + offset
        db.chat_messages.insert_many(messages, session=txn)
        if usage is not None:
            db.chat_token_usage.insert_one(usage, session=txn)

    if not transaction:
        write(None)
        return
    with client.start_session() as txn:
        txn.with_transaction(write)


def count_messages(
    db: Database[Document],
    owned: Document,
    counters: Document,
    *,
    txn: ClientSession | None,
    find_and_modify: bool = False,
) -> Document | None:
    """Move the session's counters; the session's state after the move (None: no such session)."""
    projection = {"message_count": 1, "title": 1, "deleted_at": 1}
    if find_and_modify:
        return db.chat_sessions.find_one_and_update(
            owned, counters, projection=projection, return_document=ReturnDocument.AFTER, session=txn
        )
    if db.chat_sessions.update_one(owned, counters, session=txn).matched_count == 0:
        return None
    return db.chat_sessions.find_one(owned, projection, session=txn)


def find_session(db: Database[Document], *, user_id: int, session_id: str) -> Document:
    found = db.chat_sessions.find_one({"user_id": Int64(user_id), "session_id": session_id})
    if found is None or found.get("deleted_at") is not None:
        raise LookupError("session not found")
    return found


def append(
    client: MongoClient[Document],
    db: Database[Document],
    *,
    session: Document,
    content: str,
    transaction: bool = True,
    find_and_modify: bool = False,
) -> None:
    message = message_document(session=session, role="user", content=content)
    store_messages(client, db, session, [message], transaction=transaction, find_and_modify=find_and_modify)


def insert_alone(db: Database[Document], *, session: Document, content: str, order: int) -> None:
    """Only the message's ``insert_one`` (no counter, no transaction): what its indexes cost."""
    db.chat_messages.insert_one(
        {**message_document(session=session, role="user", content=content), "order": order}
    )


def exchange(
    client: MongoClient[Document], db: Database[Document], *, user_id: int, session_id: str, content: str
) -> None:
    """One chat turn: the session, the user's message, the history, the reply and its usage."""
    session = find_session(db, user_id=user_id, session_id=session_id)
    question = message_document(session=session, role="user", content=content)
    store_messages(client, db, session, [question])
    history = message_range(db, session=session, low=question["order"] - 19, high=question["order"])
    reply = offline.OfflineResponder().reply(
        history=[Turn(role=m["role"], content=m["content"]) for m in history[:-1]], message=content, ehr=None
    )
    answer = message_document(
        session=session,
        role="assistant",
        content=reply.content,
        model=reply.model,
        parent=question["message_id"],
    )
    usage = {
        "_id": ObjectId(),
        "session_id": session["_id"],
        "message_id": answer["_id"],
        "user_id": session["user_id"],
        "model": reply.model,
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        "cost": Decimal128(Decimal(reply.cost)),
        "created_at": answer["created_at"],
    }
    store_messages(client, db, session, [answer], usage)


def message_range(
    db: Database[Document], *, session: Document, low: int, high: int, branch: int = 0
) -> list[Document]:
    """One bounded range on (user_id, session_id, branch, order): SecantusDB never sorts by an index."""
    return list(
        db.chat_messages.find(
            {
                "user_id": Int64(session["user_id"]),
                "session_id": session["_id"],
                "branch": branch,
                "order": {"$gte": max(1, low), "$lte": high},
            }
        ).sort("order", 1)
    )


def forked_message_page(db: Database[Document], *, user_id: int, session_id: str) -> list[Document]:
    """The newest 50 of a conversation with branches: its active path's window, one range per
    branch segment (the branch arithmetic is the product's, ``chats.branches``, no I/O)."""
    session = find_session(db, user_id=user_id, session_id=session_id)
    table = branches.table(message_count=session["message_count"], stored=session.get("branches"))
    active = int(session.get("active_branch") or 0)
    high = table[active].tip
    found: list[Document] = []
    for segment in branches.window(branches.path(table, active), high - 49, high):
        found += message_range(db, session=session, low=segment.low, high=segment.high, branch=segment.branch)
    return found


def message_page(
    db: Database[Document], *, user_id: int, session_id: str, before: int | None = None
) -> list[Document]:
    session = find_session(db, user_id=user_id, session_id=session_id)
    high = session["message_count"] if before is None else before - 1
    return message_range(db, session=session, low=high - 49, high=high)


def session_list(db: Database[Document], *, user_id: int, size: int = 20) -> list[Document]:
    """The first page of a user's sessions, the way the product reads it: the pinned ones (a range
    on (user_id, is_pinned)), then the newest unpinned in ``updated_at`` slices of the live,
    unarchived range; the same slice widths as ``chats.selectors``."""
    owner = Int64(user_id)
    newest_first = {"updated_at": -1, "_id": -1}
    found = list(
        db.chat_sessions.aggregate(
            [
                {"$match": {"user_id": owner, "is_pinned": True}},
                {"$match": {"deleted_at": None, "is_archived": False}},
                {"$sort": newest_first},
                {"$limit": size + 1},
            ]
        )
    )
    high: datetime | None = None
    width = selectors.FIRST_SESSION_SLICE
    for probe in range(selectors.SESSION_SLICES + 1):
        wanted = size + 1 - len(found)
        if wanted <= 0:
            break
        bounded = probe < selectors.SESSION_SLICES and width < selectors.UNBOUNDED_AFTER
        low = (high or datetime.now(UTC)) - width if bounded else None
        bounds = {**({"$gte": low} if low else {}), **({"$lt": high} if high else {})}
        window = list(
            db.chat_sessions.aggregate(
                [
                    {
                        "$match": {
                            "user_id": owner,
                            "deleted_at": None,
                            "is_archived": False,
                            **({"updated_at": bounds} if bounds else {}),
                        }
                    },
                    {"$match": {"is_pinned": {"$ne": True}}},
                    {"$sort": newest_first},
                    {"$limit": wanted},
                ]
            )
        )
        found += window
        if low is None:
            break
        width = selectors.next_slice_width(width=width, found=len(window), missing=wanted - len(window))
        high = low
    return found


def search_chats(db: Database[Document], *, user_id: int, query: str, size: int = 20) -> list[Document]:
    """The product's index work by hand (issue 19): the vocabulary look-ups (the counts document,
    prefix keys, typo keys, the candidates' counts when new), the title query, the rarest word's
    newest buckets (as many as a page needs, one query), the other words checked on the
    documents, the hits' sessions fetched by ``_id``."""
    owner = Int64(user_id)
    words = search.parse_query(query).words
    exact = {t for w in words for t in w.exact}
    counts_document = {"user_id": owner, "key": search.COUNTS_KEY}
    state = db.chat_search_terms.find_one(
        counts_document, {"pending": 1, **{f"counts.{t}": 1 for t in exact}}
    )
    counts = dict((state or {}).get("counts", {}))
    prefixes = [t for w in words for t in w.prefix_probes]
    typos = [t for w in words for t in w.typo_probes]
    found = list(db.chat_search_terms.find({"user_id": owner, "prefix_keys": {"$in": prefixes}}).limit(200))
    found += list(db.chat_search_terms.find({"user_id": owner, "typo_keys": {"$in": typos}}).limit(200))
    unknown = {entry["key"] for entry in found} - counts.keys()
    if unknown:
        more = db.chat_search_terms.find_one(counts_document, {f"counts.{key}": 1 for key in unknown})
        counts.update((more or {}).get("counts", {}))
    per_word = [[t for t in w.exact if t in counts] for w in words]
    sessions = list(
        db.chat_sessions.aggregate(
            [
                {"$match": {"user_id": owner, "search_terms": {"$in": list(words[0].exact)}}},
                {"$match": {"deleted_at": None}},
                {"$sort": {"updated_at": -1, "_id": -1}},
                {"$limit": size},
            ]
        )
    )
    if not all(per_word):
        return sessions
    driver = min(per_word, key=lambda terms: sum(counts[t] for t in terms))
    key = min(driver, key=lambda t: counts[t])
    top = (counts[key] - 1) // search.BUCKET_SIZE
    buckets = -(-(size + 1) // search.BUCKET_SIZE) + 1
    postings = [search.posting(key, b) for b in range(top, max(top - buckets, -1), -1)]
    messages = sorted(
        (
            m
            for m in db.chat_messages.find({"user_id": owner, "search_postings": {"$in": postings}})
            if all(set(m["search_terms"]) & set(terms) for terms in per_word)
        ),
        key=lambda m: (m["created_at"], m["_id"]),
        reverse=True,
    )[:size]
    owners = {
        session["_id"]
        for session in db.chat_sessions.find(
            {"user_id": owner, "_id": {"$in": list({m["session_id"] for m in messages})}}
        )
        if session.get("deleted_at") is None
    }
    return sessions + [message for message in messages if message["session_id"] in owners]
