"""The write side of search: postings on message documents and each user's vocabulary.

Every writer of message documents (``services.messages``, the importers' writer, the fake-data
generator, ``rebuild_search``) calls ``index_documents`` on the documents the builder made, just
before inserting them. A term's count at write time names the bucket of its posting, so a term's
buckets hold about ``search.BUCKET_SIZE`` postings each and its newest matches are its highest
buckets. Counts only ever go up, so a posting is never placed below an older one of its term.

Batches (importers, ``rebuild_search``, the fake-data generator) are counted as they are written:
one read of the counts (projected to the batch's terms) and one ``bulk_write`` that increments
them in ONE document, BEFORE the messages are inserted, so a stored message's terms are always
counted (an insert that then fails leaves a count one too high: one more bucket walked).

The live append path (``services.messages``) defers the counting (``defer_counts``): on
SecantusDB any document write costs about as much as the append's own message insert, so a write
of the counts per append made appends 1.7-1.9x slower (BENCHMARKS.md, issue 19). Its postings are
placed from the counts as read (one read), and the message is stored marked ``search_uncounted``
in its own transaction: the mark is the durable record that its terms still have to be counted.
``count_deferred`` counts a user's marked messages in one write and clears the marks; it runs
from a task every ``COUNT_EVERY`` appends of a conversation and for every user each minute
(``chats.tasks.count_search_terms``). Meanwhile a term's postings pile a few more into the bucket
its count names (at most ``COUNT_EVERY`` per conversation between runs), and the search adds the
marked messages' terms to the counts it reads (``selectors.search``), so a term first used a
moment ago is found at once. A user's very first terms are counted at once: that write makes
their counts document, which a deferred run never makes again (after an erasure dropped it).

A term the user never used before waits in the counts document's ``pending`` list as its key
and its term (sealed under the patient's key with CHAT_ENCRYPTION on) until ``PENDING_LIMIT`` of
them are inserted as term documents in one batch, with their prefix and deletion keys worked out
then (their 10-60 multikey entries each are what made new terms expensive); the search works out
the keys of the pending terms it needs itself. The pending entries hold no derived keys because
updating a document costs in proportion to its size (SecantusDB: a counts document of 131 kB
with 63 entries' derived keys took 49 ms per ``$inc``, 22 ms at 9 kB with their terms only).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bson import Int64
from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from chats import crypto, search, store
from chats.models import ChatMessage, SearchTerm
from medibot.mongodb.shard_guard import unscoped

Document = dict[str, Any]
PENDING_LIMIT = 64  # new terms kept in the counts document before they are written out
UNCOUNTED = "search_uncounted"  # on a message whose terms are not in its owner's counts yet
UNCOUNTED_INDEX = "message_uncounted_idx"  # (user_id, search_uncounted), those messages only
COUNT_EVERY = search.BUCKET_SIZE  # a conversation's appends between two runs of count_deferred
COUNT_BATCH = 500  # messages one count_deferred run counts


def vocabulary() -> Any:
    return store.collection(SearchTerm)


def index_documents(
    documents: Iterable[Document], *, language: str | None = None, defer_counts: bool = False
) -> None:
    """Give every message document its ``search_postings`` and count its terms in the owner's
    vocabulary (two round trips per user in the batch, whatever its size). ``language``: the one
    the documents' ``search_terms`` were stemmed in (None: detected per text), so that new terms
    are recovered from the text as they were stored.

    ``defer_counts`` (the live append path): one round trip, a read. The postings are placed from
    the counts as they stand and each document is marked ``search_uncounted``; its terms are
    counted later, many messages in one write (``count_deferred``). Until then the search adds the
    marked messages' terms to the counts it reads, so nothing is missing from it meanwhile.
    """
    by_user: dict[int, list[Document]] = defaultdict(list)
    for document in documents:
        by_user[int(document["user_id"])].append(document)
    for user_id, owned in by_user.items():
        owned.sort(key=lambda d: d["created_at"])
        counts, pending = _read_counts(user_id, owned, with_pending=not defer_counts)
        if counts is None:  # no terms at all
            for document in owned:
                document["search_postings"] = []
            continue
        _place(owned, counts.counts)
        if defer_counts and counts.exists:
            for document in owned:
                document[UNCOUNTED] = True
        else:  # counted now: a batch, or the user's first terms (their counts document is made)
            _count(user_id, owned, counts.counts, pending, language)


def count_deferred(user_id: int, *, language: str | None = None) -> int:
    """Count the terms of the user's messages written with deferred counts (``search_uncounted``),
    at most ``COUNT_BATCH`` of them, in one write, then clear their mark; returns how many.

    The counts are written before the marks are cleared: a run stopped in between, or two runs at
    once, count a message twice, which leaves a bucket short of postings (one more bucket walked),
    never a term missing and never a count going down, so postings stay in time order."""
    messages = store.collection(ChatMessage)
    owner = Int64(user_id)
    marked = list(
        messages.find(
            {"user_id": owner, UNCOUNTED: True},
            {"user_id": 1, "content": 1, "created_at": 1, "search_terms": 1},
            limit=COUNT_BATCH,
        )
    )
    if not marked:
        return 0
    marked.sort(key=lambda d: d["created_at"])
    counts, pending = _read_counts(user_id, marked)
    # No counts document: the user's chats were erased meanwhile (it is never made again here).
    if counts is not None and counts.exists:
        _count(user_id, marked, counts.counts, pending, language, create=False)
    messages.update_many(
        {"user_id": owner, "_id": {"$in": [document["_id"] for document in marked]}, UNCOUNTED: True},
        {"$unset": {UNCOUNTED: ""}},
    )
    return len(marked)


def users_with_deferred_counts(*, limit: int = 1000) -> list[int]:
    """Users having messages whose terms are not counted yet (a range of the partial index that
    holds only those messages)."""
    with unscoped("search: every user's messages with deferred counts"):
        found = store.collection(ChatMessage).find(
            {UNCOUNTED: True}, {"user_id": 1}, limit=limit, hint=UNCOUNTED_INDEX
        )
        return sorted({int(document["user_id"]) for document in found})


@dataclass(frozen=True)
class _Counts:
    counts: dict[str, int]
    exists: bool  # the user has a counts document


def _read_counts(
    user_id: int, documents: list[Document], *, with_pending: bool = True
) -> tuple[_Counts | None, list[Document]]:
    """The user's counts of the documents' terms (None: the documents hold no term) and (when
    asked) the new terms waiting in the counts document: one read, projected to those terms."""
    keys = {key for document in documents for key in document.get("search_terms", [])}
    if not keys:
        return None, []
    projection = {"key": 1, **{f"counts.{key}": 1 for key in sorted(keys)}}
    if with_pending:
        projection["pending"] = 1
    state = vocabulary().find_one({"user_id": Int64(user_id), "key": search.COUNTS_KEY}, projection)
    if state is None:
        return _Counts({}, exists=False), []
    counts = {key: int(count) for key, count in state.get("counts", {}).items()}
    return _Counts(counts, exists=True), state.get("pending", [])


def _place(documents: list[Document], counts: dict[str, int]) -> None:
    """Each document's postings: a term's bucket is its count before this posting."""
    added: Counter[str] = Counter()
    for document in documents:
        postings = []
        for key in document.get("search_terms", []):
            postings.append(search.posting(key, search.bucket_of(counts.get(key, 0) + added[key])))
            added[key] += 1
        document["search_postings"] = postings


def _count(
    user_id: int,
    documents: list[Document],
    counts: dict[str, int],
    pending: list[Document],
    language: str | None,
    *,
    create: bool = True,
) -> None:
    """Increment the counts of the documents' terms in one write; terms new to the vocabulary
    wait in the counts document's ``pending`` list, written out ``PENDING_LIMIT`` at a time."""
    owner = Int64(user_id)
    added = Counter(key for document in documents for key in document.get("search_terms", []))
    waiting = {entry["key"] for entry in pending}
    new_terms = plain_terms(user_id, documents, added.keys() - counts.keys() - waiting, language)
    fresh = [
        _pending_term(user_id, key, term) for key, term in new_terms.items() if not search.has_digit(term)
    ]
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
    operations.insert(0, UpdateOne({"user_id": owner, "key": search.COUNTS_KEY}, change, upsert=create))
    try:
        vocabulary().bulk_write(operations, ordered=False)
    except BulkWriteError as error:  # a term another writer of this user inserted first
        if any(item.get("code") != 11000 for item in error.details.get("writeErrors", [])):
            raise


def plain_terms(
    user_id: int, documents: list[Document], new_keys: set[str], language: str | None
) -> dict[str, str]:
    """The terms behind keys new to the vocabulary (their prefixes and deletions are derived from
    the term, which a keyed ``search_key`` does not give back): worked out again from the text."""
    plain: dict[str, str] = {}
    if not new_keys:
        return plain
    seen: set[str] = set()  # each term keyed once (with encryption on, a key is an HMAC)
    for document in documents:
        if new_keys & set(document.get("search_terms", [])):
            # Importers index documents already built for storage: sealed content is opened here.
            terms = set(search.terms_for(crypto.decrypt_value(document.get("content", "")), language))
            for term in terms - seen:
                key = search.search_key(user_id, term)
                if key in new_keys:
                    plain[key] = term
            seen |= terms
    for key in new_keys - plain.keys():  # worked out in another language than the text gives
        plain[key] = key
    return plain


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
