"""The write side of search: postings on message documents and each user's vocabulary.

Every writer of message documents (``services.messages``, the importers' writer, the fake-data
generator, ``rebuild_search``) calls ``index_documents`` on the documents the builder made, just
before inserting them. The vocabulary is counted FIRST: a term of a stored message is always in
its owner's vocabulary (an insert that then fails leaves a count one too high, which only widens
a bucket walk by an empty bucket), and a term's count at write time names the bucket of its
posting, so a term's buckets hold at most ``search.BUCKET_SIZE`` postings each (a little more
when two writers of one user race) and its newest matches are its highest buckets.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bson import Int64
from pymongo import UpdateOne

from chats import search, store
from chats.models import SearchTerm

Document = dict[str, Any]


def vocabulary() -> Any:
    return store.collection(SearchTerm)


def index_documents(documents: Iterable[Document], *, session: Any = None) -> None:
    """Give every message document its ``search_postings`` and count its terms in the owner's
    vocabulary (two round trips per user in the batch, whatever its size)."""
    by_user: dict[int, list[Document]] = defaultdict(list)
    for document in documents:
        by_user[int(document["user_id"])].append(document)
    for user_id, owned in by_user.items():
        _index_user_documents(user_id, sorted(owned, key=lambda d: d["created_at"]), session=session)


def _index_user_documents(user_id: int, documents: list[Document], *, session: Any) -> None:
    keys = {key for document in documents for key in document.get("search_terms", [])}
    if not keys:
        for document in documents:
            document["search_postings"] = []
        return
    counts = Counter(
        {
            entry["key"]: int(entry.get("count", 0))
            for entry in vocabulary().find(
                {"user_id": Int64(user_id), "key": {"$in": sorted(keys)}},
                {"key": 1, "count": 1},
                session=session,
            )
        }
    )
    added: Counter[str] = Counter()
    for document in documents:
        postings = []
        for key in document.get("search_terms", []):
            postings.append(search.posting(key, search.bucket_of(counts[key] + added[key])))
            added[key] += 1
        document["search_postings"] = postings
    new_terms = _plain_terms(user_id, documents, keys - counts.keys())
    vocabulary().bulk_write(
        [
            UpdateOne(
                {"user_id": Int64(user_id), "key": key},
                {"$inc": {"count": number}, "$setOnInsert": _new_term(user_id, new_terms.get(key, key))},
                upsert=True,
            )
            for key, number in added.items()
        ],
        ordered=False,
        session=session,
    )


def _plain_terms(user_id: int, documents: list[Document], new_keys: set[str]) -> dict[str, str]:
    """The terms behind keys new to the vocabulary (their prefixes and deletions are derived from
    the term, which a keyed ``search_key`` does not give back): worked out again from the text."""
    plain: dict[str, str] = {}
    for document in documents:
        if new_keys & set(document.get("search_terms", [])):
            for term in search.terms_for(document.get("content", "")):
                key = search.search_key(user_id, term)
                if key in new_keys:
                    plain[key] = term
    return plain


def _new_term(user_id: int, term: str) -> Document:
    return {
        "prefix_keys": [search.search_key(user_id, prefix) for prefix in search.prefixes(term)],
        "typo_keys": sorted({search.search_key(user_id, key) for key in search.stored_typo_keys(term)}),
    }


def forget_user(user_id: int) -> int:
    """Drop a user's whole vocabulary (erasure); returns how many terms were dropped."""
    return int(vocabulary().delete_many({"user_id": Int64(user_id)}).deleted_count)
