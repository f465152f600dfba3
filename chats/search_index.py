"""The write side of search: postings on message documents and each user's vocabulary.

Every writer of message documents (``services.messages``, the importers' writer, the fake-data
generator, ``rebuild_search``) calls ``index_documents`` on the documents the builder made, just
before inserting them. The vocabulary is written FIRST: a term of a stored message is always in
its owner's vocabulary (an insert that then fails leaves a count one too high, which only widens
a bucket walk by an empty bucket), and a term's count at write time names the bucket of its
posting, so a term's buckets hold at most ``search.BUCKET_SIZE`` postings each (a little more
when two writers of one user race) and its newest matches are its highest buckets.

Cost per batch and user: one read of the counts (projected to the batch's terms) and one
``bulk_write`` that increments them in ONE document (SecantusDB spends ~7 ms per document
written, so one document per term made an append 3x slower) and inserts the terms the user never
used before with their prefix and deletion keys.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bson import Int64
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from chats import search, store
from chats.models import SearchTerm

Document = dict[str, Any]


def vocabulary() -> Any:
    return store.collection(SearchTerm)


def counts_of(user_id: int, keys: Iterable[str]) -> dict[str, int]:
    """How many of ``user_id``'s messages hold each of ``keys`` (absent: none)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    found = vocabulary().find_one(
        {"user_id": Int64(user_id), "key": search.COUNTS_KEY}, {f"counts.{key}": 1 for key in wanted}
    )
    counts = (found or {}).get("counts", {})
    return {key: int(counts[key]) for key in wanted if key in counts}


def index_documents(documents: Iterable[Document]) -> None:
    """Give every message document its ``search_postings`` and count its terms in the owner's
    vocabulary (two round trips per user in the batch, whatever its size)."""
    by_user: dict[int, list[Document]] = defaultdict(list)
    for document in documents:
        by_user[int(document["user_id"])].append(document)
    for user_id, owned in by_user.items():
        _index_user_documents(user_id, sorted(owned, key=lambda d: d["created_at"]))


def _index_user_documents(user_id: int, documents: list[Document]) -> None:
    keys = {key for document in documents for key in document.get("search_terms", [])}
    counts = counts_of(user_id, keys)
    added: Counter[str] = Counter()
    for document in documents:
        postings = []
        for key in document.get("search_terms", []):
            postings.append(search.posting(key, search.bucket_of(counts.get(key, 0) + added[key])))
            added[key] += 1
        document["search_postings"] = postings
    if not added:
        return
    owner = Int64(user_id)
    new_terms = _plain_terms(user_id, documents, keys - counts.keys())
    operations: list[Any] = [
        UpdateOne(
            {"user_id": owner, "key": search.COUNTS_KEY},
            {"$inc": {f"counts.{key}": number for key, number in added.items()}},
            upsert=True,
        )
    ]
    operations += [
        InsertOne({"user_id": owner, **_new_term(user_id, key, term)}) for key, term in new_terms.items()
    ]
    try:
        vocabulary().bulk_write(operations, ordered=False)
    except BulkWriteError as error:  # a term another writer of this user inserted first
        if any(item.get("code") != 11000 for item in error.details.get("writeErrors", [])):
            raise


def _plain_terms(user_id: int, documents: list[Document], new_keys: set[str]) -> dict[str, str]:
    """The terms behind keys new to the vocabulary (their prefixes and deletions are derived from
    the term, which a keyed ``search_key`` does not give back): worked out again from the text."""
    plain: dict[str, str] = {}
    if not new_keys:
        return plain
    for document in documents:
        if new_keys & set(document.get("search_terms", [])):
            for term in search.terms_for(document.get("content", "")):
                key = search.search_key(user_id, term)
                if key in new_keys:
                    plain[key] = term
    for key in new_keys - plain.keys():  # worked out in another language than the text gives
        plain[key] = key
    return plain


def _new_term(user_id: int, key: str, term: str) -> Document:
    return {
        "key": key,
        "prefix_keys": [search.search_key(user_id, prefix) for prefix in search.prefixes(term)],
        "typo_keys": sorted({search.search_key(user_id, k) for k in search.stored_typo_keys(term)}),
    }


def forget_user(user_id: int) -> int:
    """Drop a user's whole vocabulary (erasure); returns how many documents were dropped."""
    return int(vocabulary().delete_many({"user_id": Int64(user_id)}).deleted_count)
