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
written, so one document per term made an append 3x slower). A term the user never used before
is counted at once and waits in the counts document's ``pending`` list as its key and its term
(sealed under the patient's key with CHAT_ENCRYPTION on) until ``PENDING_LIMIT`` of them are
inserted as term documents in one batch, with their prefix and deletion keys worked out then
(their 10-60 multikey entries each are what made new terms expensive); the search works out the
keys of the pending terms it needs itself. The pending entries hold no derived keys because
updating a document costs in proportion to its size (SecantusDB: a counts document of 131 kB
with 63 entries' derived keys took 49 ms per ``$inc``, 22 ms at 9 kB with their terms only).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bson import Int64
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from chats import crypto, search, store
from chats.models import SearchTerm

Document = dict[str, Any]
PENDING_LIMIT = 64  # new terms kept in the counts document before they are written out


def vocabulary() -> Any:
    return store.collection(SearchTerm)


def index_documents(documents: Iterable[Document], *, language: str | None = None) -> None:
    """Give every message document its ``search_postings`` and count its terms in the owner's
    vocabulary (two round trips per user in the batch, whatever its size). ``language``: the one
    the documents' ``search_terms`` were stemmed in (None: detected per text), so that new terms
    are recovered from the text as they were stored."""
    by_user: dict[int, list[Document]] = defaultdict(list)
    for document in documents:
        by_user[int(document["user_id"])].append(document)
    for user_id, owned in by_user.items():
        _index_user_documents(user_id, sorted(owned, key=lambda d: d["created_at"]), language)


def _index_user_documents(user_id: int, documents: list[Document], language: str | None) -> None:
    owner = Int64(user_id)
    keys = {key for document in documents for key in document.get("search_terms", [])}
    if not keys:
        for document in documents:
            document["search_postings"] = []
        return
    state = (
        vocabulary().find_one(
            {"user_id": owner, "key": search.COUNTS_KEY},
            {"pending": 1, **{f"counts.{key}": 1 for key in sorted(keys)}},
        )
        or {}
    )
    counts = {key: int(count) for key, count in state.get("counts", {}).items()}
    pending: list[Document] = state.get("pending", [])
    added: Counter[str] = Counter()
    for document in documents:
        postings = []
        for key in document.get("search_terms", []):
            postings.append(search.posting(key, search.bucket_of(counts.get(key, 0) + added[key])))
            added[key] += 1
        document["search_postings"] = postings
    waiting = {entry["key"] for entry in pending}
    new_terms = _plain_terms(user_id, documents, keys - counts.keys() - waiting, language)
    # Numbers ("150", "2mg") get no prefix or typo keys: 150 is not a misspelt 160.
    fresh = [_pending_term(user_id, key, term) for key, term in new_terms.items() if not _has_digit(term)]
    change: Document = {"$inc": {f"counts.{key}": number for key, number in added.items()}}
    operations: list[Any] = []
    if len(pending) + len(fresh) >= PENDING_LIMIT:
        if pending:
            change["$pull"] = {"pending": {"key": {"$in": sorted(waiting)}}}
        operations = [
            InsertOne({"user_id": owner, **term_document(user_id, entry)}) for entry in [*pending, *fresh]
        ]
    elif fresh:
        change["$push"] = {"pending": {"$each": fresh}}
    operations.insert(0, UpdateOne({"user_id": owner, "key": search.COUNTS_KEY}, change, upsert=True))
    try:
        vocabulary().bulk_write(operations, ordered=False)
    except BulkWriteError as error:  # a term another writer of this user inserted first
        if any(item.get("code") != 11000 for item in error.details.get("writeErrors", [])):
            raise


def _plain_terms(
    user_id: int, documents: list[Document], new_keys: set[str], language: str | None
) -> dict[str, str]:
    """The terms behind keys new to the vocabulary (their prefixes and deletions are derived from
    the term, which a keyed ``search_key`` does not give back): worked out again from the text."""
    plain: dict[str, str] = {}
    if not new_keys:
        return plain
    for document in documents:
        if new_keys & set(document.get("search_terms", [])):
            # Importers index documents already built for storage: sealed content is opened here.
            for term in search.terms_for(crypto.decrypt_value(document.get("content", "")), language):
                key = search.search_key(user_id, term)
                if key in new_keys:
                    plain[key] = term
    for key in new_keys - plain.keys():  # worked out in another language than the text gives
        plain[key] = key
    return plain


def _has_digit(term: str) -> bool:
    return any(char.isdigit() for char in term)


def _pending_term(user_id: int, key: str, term: str) -> Document:
    """A new term as it waits in the counts document: its key and the term, sealed when chats are
    encrypted (the term is what its prefix and deletion keys are worked out from)."""
    return {"key": key, "term": crypto.encrypt_value(user_id, term) if crypto.enabled() else term}


def term_document(user_id: int, entry: Document) -> Document:
    """The term document of a pending entry, with every prefix and deletion key."""
    term = search.pending_term(entry)
    if term is None:
        return {"key": entry["key"], "prefix_keys": entry["prefix_keys"], "typo_keys": entry["typo_keys"]}
    prefix_keys, typo_keys = search.term_keys(user_id, term)
    return {"key": entry["key"], "prefix_keys": prefix_keys, "typo_keys": typo_keys}


def forget_user(user_id: int) -> int:
    """Drop a user's whole vocabulary (erasure); returns how many documents were dropped."""
    return int(vocabulary().delete_many({"user_id": Int64(user_id)}).deleted_count)
