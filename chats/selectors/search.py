"""Search of messages and session titles: vocabulary expansion, then a bounded walk of postings.

A query word first becomes the terms of its owner's vocabulary it may mean (``_expand``): its stem
in every supported language (exact), the terms it is a prefix of, and the terms within one or two
edits of it, each found by an EXACT match on derived keys (``chats.search``), capped and most
frequent first. Messages are then read newest first through ``search_postings``: the driver
word's terms' highest buckets first (``_walk``), a bucket at a time, stopping once the page is
full or the page's budget of buckets is spent, so one page's work is bounded by the page size,
never by the number of matches. The cursor remembers where each term's walk stands.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bson import Int64, ObjectId
from bson.errors import InvalidId

from chats import crypto, search, search_index
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage, ChatSession, SearchTerm
from chats.selectors.query import aggregate, page_size
from medibot.mongodb.shard_guard import unscoped

SORTS = ("newest", "relevance")
MAX_EXPANSIONS = 4  # vocabulary terms a query word may stand for besides its exact terms
VOCABULARY_SCAN_LIMIT = 200  # vocabulary entries one prefix or typo probe may bring back
BUDGET_FACTOR = 4  # postings read for one page: at most this many times the page size
EXACT, PREFIX, TYPO = 3, 2, 1  # how strongly a matched term counts for relevance


@dataclass(frozen=True)
class SearchHit:
    message: ChatMessage
    session: ChatSession
    snippet: str
    score: float = 0.0


@dataclass(frozen=True)
class SearchResult:
    terms: list[str]
    sessions: list[ChatSession]
    messages: list[SearchHit]
    next_cursor: str | None = None
    has_more: bool = False


@dataclass
class _Word:
    """A query word and the vocabulary terms it stands for: key -> (count, match strength)."""

    query: search.QueryWord
    terms: dict[str, tuple[int, int]] = field(default_factory=dict)
    tops: dict[str, int] = field(default_factory=dict)  # key -> the highest bucket of its postings

    @property
    def weight(self) -> int:
        return sum(count for count, _ in self.terms.values())


@dataclass
class _Walk:
    """Where each driver term's newest-first walk of its buckets stands."""

    next_bucket: dict[str, int]
    oldest: dict[str, tuple[datetime, str] | None] = field(default_factory=dict)
    found: dict[str, ChatMessage] = field(default_factory=dict)
    source: dict[str, dict[str, int]] = field(default_factory=dict)  # message pk -> term -> bucket
    buckets_read: int = 0


def search_chats(
    *,
    query: str,
    user_id: int | None,
    limit: int | None = None,
    cursor: str | None = None,
    sort: str = "newest",
) -> SearchResult:
    """Messages and session titles matching every word of ``query`` (and its quoted phrases in
    order), newest first or (``sort="relevance"``) ranked within each page's window.

    ``user_id=None`` searches every user (staff only; enforced by the caller): exact terms only,
    since vocabularies are per user.
    """
    if not isinstance(query, str) or len(query) > 500:
        raise InvalidChatInput("q must be a string of at most 500 characters.")
    if sort not in SORTS:
        raise InvalidChatInput(f"sort must be one of {', '.join(SORTS)}.")
    parsed = search.parse_query(query)
    if not parsed.words:
        raise InvalidChatInput("q must contain at least one word.")
    size = page_size(limit)
    if user_id is None:
        if crypto.enabled():
            # Terms are per-patient keyed hashes: no key finds a word across patients (README
            # "Encryption of chat content"); staff name the patient ("<person> <words>" in the admin).
            raise InvalidChatInput(
                "with chat encryption on, search one patient's chats: name the patient first."
            )
        return _staff_search(parsed, size)
    position, resume = _read_cursor(cursor)
    words = _expand(user_id, parsed)
    terms = sorted({key for word in words for key in word.terms})
    sessions = _title_matches(user_id, words, size) if cursor is None else []
    if any(not word.terms for word in words):
        return SearchResult(terms=terms, sessions=sessions, messages=[])
    driver = min(words, key=lambda word: word.weight)
    walk = _Walk(
        next_bucket={
            key: resume.get(key, driver.tops[key]) if cursor is None or key in resume else -1
            for key in driver.terms
        }
    )
    page, more = _walk(user_id, walk, words, parsed, position, size)
    hits = _hits(user_id, page, words, parsed, scored=sort == "relevance")
    if sort == "relevance":
        hits.sort(key=lambda hit: hit.score, reverse=True)
    last = _position(page[-1]) if page else position
    next_cursor = _write_cursor(last, _resume_points(walk, last)) if more else None
    return SearchResult(
        terms=terms,
        sessions=sessions,
        messages=hits,
        next_cursor=next_cursor,
        has_more=next_cursor is not None,
    )


def _expand(user_id: int, parsed: search.Query) -> list[_Word]:
    """Each query word's vocabulary terms: exact first, then prefixes and typos, most frequent
    first, at most ``MAX_EXPANSIONS`` of those. Indexed look-ups for the whole query: the counts
    document (the exact terms' counts and the new terms still pending there), the term documents
    under the words' prefix and deletion keys, and the counts of those candidates if needed."""
    owner = Int64(user_id)
    words = [_Word(query=word) for word in parsed.words]

    def keys(values: Iterable[str]) -> list[str]:
        return sorted({search.search_key(user_id, value) for value in values})

    exact_keys = keys(term for word in parsed.words for term in word.exact)
    vocabulary = _vocabulary(user_id, exact_keys)
    counts = vocabulary.counts
    prefix_keys = keys(term for word in parsed.words for term in word.prefix_probes)
    typo_keys = keys(probe for word in parsed.words for probe in word.typo_probes)
    plain_prefixes = {probe for word in parsed.words for probe in word.prefix_probes}
    plain_typos = {probe for word in parsed.words for probe in word.typo_probes}
    waiting = [*vocabulary.pending, *({"key": k, "term": t} for k, t in vocabulary.uncounted_terms.items())]
    entries = [_pending_entry(user_id, entry, plain_prefixes, plain_typos) for entry in waiting]
    for field_name, probe_keys in (("prefix_keys", prefix_keys), ("typo_keys", typo_keys)):
        if probe_keys:
            entries += [
                {"key": e.key, "prefix_keys": e.prefix_keys, "typo_keys": e.typo_keys}
                for e in aggregate(
                    SearchTerm,
                    {"user_id": owner, field_name: {"$in": probe_keys}},
                    limit=VOCABULARY_SCAN_LIMIT,
                )
            ]
    unknown = sorted({entry["key"] for entry in entries} - counts.keys())
    if unknown:
        counts.update(_counts(user_id, unknown)[0])
    for word in words:
        for key in keys(word.query.exact):
            if vocabulary.known(key):
                word.terms[key] = (vocabulary.total(key), EXACT)
                word.tops[key] = vocabulary.top_bucket(key)
        probes = set(keys(word.query.prefix_probes))
        typo_probes = set(keys(word.query.typo_probes))
        extra = [(e["key"], PREFIX) for e in entries if probes & set(e["prefix_keys"])]
        extra += [(e["key"], TYPO) for e in entries if typo_probes & set(e["typo_keys"])]
        extra = [(key, strength) for key, strength in extra if vocabulary.known(key)]
        extra.sort(key=lambda pair: (-pair[1], -vocabulary.total(pair[0]), pair[0]))
        for key, strength in extra:
            if sum(1 for _, s in word.terms.values() if s != EXACT) >= MAX_EXPANSIONS:
                break
            if key not in word.terms:
                word.terms[key] = (vocabulary.total(key), strength)
                word.tops[key] = vocabulary.top_bucket(key)
    return words


def _pending_entry(
    user_id: int, entry: dict[str, Any], prefix_probes: set[str], typo_probes: set[str]
) -> dict[str, Any]:
    """A new term waiting in the counts document with those of its prefix and deletion keys that
    the query's probes can meet (it is stored with its term only: ``chats.search_index``)."""
    term = search.pending_term(entry)
    if term is None:
        return entry
    met_prefixes = [prefix for prefix in search.prefixes(term) if prefix in prefix_probes]
    met_deletions = sorted(search.stored_typo_keys(term) & typo_probes)
    return {
        "key": entry["key"],
        "prefix_keys": [search.search_key(user_id, prefix) for prefix in met_prefixes],
        "typo_keys": [search.search_key(user_id, deletion) for deletion in met_deletions],
    }


@dataclass
class _Vocabulary:
    """What a search knows of its user's vocabulary: the counts document's counts (of the keys
    asked), its pending new terms, and the terms of the messages whose counting is deferred."""

    counts: dict[str, int]
    pending: list[dict[str, Any]]
    uncounted: Counter[str] = field(default_factory=Counter)  # key -> deferred occurrences
    uncounted_terms: dict[str, str] = field(default_factory=dict)  # key -> plain term

    def total(self, key: str) -> int:
        return self.counts.get(key, 0) + self.uncounted[key]

    def known(self, key: str) -> bool:
        return key in self.counts or key in self.uncounted

    def top_bucket(self, key: str) -> int:
        """The highest bucket a posting of ``key`` may be in: the one its stored count names
        (deferred postings were placed from that count, so they are there too)."""
        return search.bucket_of(self.counts.get(key, 0))


def _vocabulary(user_id: int, keys: list[str]) -> _Vocabulary:
    """The counts document projected to ``keys`` with its pending terms, and the user's messages
    whose terms are not counted yet (``search_index``: a range of the partial
    ``message_uncounted_idx``, empty once the counting job has run), their terms recovered from
    their text (language detected per message) for prefix and typo probes. Two reads: SecantusDB
    runs a ``$unionWith`` sub-pipeline as a collection scan (116 ms at 3,000 messages against
    1.1 ms for the indexed read), so the second is not folded into the first."""
    counts, pending = _counts(user_id, keys, with_pending=True)
    found = _Vocabulary(counts=counts, pending=pending)
    deferred = [
        {"search_terms": message.search_terms, "content": message.content}
        for message in aggregate(
            ChatMessage,
            {"user_id": Int64(user_id), search_index.UNCOUNTED: True},
            limit=search_index.COUNT_BATCH,
        )
    ]
    for document in deferred:
        found.uncounted.update(document.get("search_terms") or [])
    if deferred:
        words = search_index.plain_terms(user_id, deferred, set(found.uncounted), None)
        found.uncounted_terms = {key: term for key, term in words.items() if not search.has_digit(term)}
    return found


def _counts(
    user_id: int, keys: list[str], *, with_pending: bool = False
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """How many of the user's messages hold each of ``keys`` (their counts document, projected),
    and (``with_pending``) the new terms waiting there to be written as term documents."""
    wanted = sorted(set(keys))
    projection: dict[str, Any] = {"user_id": 1, "key": 1, **{f"counts.{key}": 1 for key in wanted}}
    if with_pending:
        projection["pending"] = 1
    present = {  # fields the projection may leave out, so the model never loads them on access
        "counts": {"$ifNull": ["$counts", {}]},
        "pending": {"$ifNull": ["$pending", []]} if with_pending else {"$literal": []},
    }
    pipeline = [
        {"$match": {"user_id": Int64(user_id), "key": search.COUNTS_KEY}},
        {"$project": projection},
        {"$addFields": present},
    ]
    found = list(SearchTerm.objects.raw_aggregate(pipeline))
    if not found:
        return {}, []
    counts = found[0].counts or {}
    return {key: int(counts[key]) for key in wanted if key in counts}, list(found[0].pending or [])


def _title_matches(user_id: int, words: list[_Word], size: int) -> list[ChatSession]:
    """Sessions whose title holds every word (its exact or expanded terms)."""
    wanted = [
        sorted(set(word.terms) | {search.search_key(user_id, t) for t in word.query.exact}) for word in words
    ]
    driver, *others = sorted(wanted, key=len)
    rest: dict[str, Any] = {"deleted_at": None}
    if others:
        rest["$and"] = [{"search_terms": {"$in": keys}} for keys in others]
    return aggregate(
        ChatSession,
        {"user_id": Int64(user_id), "search_terms": {"$in": driver}},
        rest,
        sort={"updated_at": -1, "_id": -1},
        limit=size,
    )


def _position(message: ChatMessage) -> tuple[datetime, str]:
    return (message.created_at, str(message.pk))


def _walk(
    user_id: int,
    walk: _Walk,
    words: list[_Word],
    parsed: search.Query,
    before: tuple[datetime, str] | None,
    size: int,
) -> tuple[list[ChatMessage], bool]:
    """The next ``size`` matches older than ``before``, newest first, and whether more may follow.

    A match is emitted once it is newer than the oldest posting read so far of every term whose
    walk is not over (unread buckets only hold older postings); until then the walk reads the
    buckets of the term that holds it back."""
    budget = max(1, BUDGET_FACTOR * size // search.BUCKET_SIZE)
    # The first read takes the buckets a full page needs (one more than the page's own, since a
    # term's oldest posting read is not emitted until the bucket below it is read), shared among
    # the driver's terms: one query where a bucket at a time took two for a common word.
    first = [key for key, bucket in walk.next_bucket.items() if bucket >= 0]
    needed = -(-(size + 1) // search.BUCKET_SIZE) + 1
    _read(user_id, walk, first, buckets=max(1, min(needed, budget) // max(1, len(first))))
    while True:
        active = [key for key, bucket in walk.next_bucket.items() if bucket >= 0]
        floors = [walk.oldest.get(key) for key in active]
        watermark = (
            None if not active else max(floors, key=lambda f: f or (datetime.max.replace(tzinfo=UTC), ""))
        )
        ready = sorted(
            (
                m
                for m in walk.found.values()
                if (before is None or _position(m) < before)
                and (not active or (watermark is not None and _position(m) > watermark))
                and _matches(m, words, parsed)
            ),
            key=_position,
            reverse=True,
        )
        if len(ready) > size or not active:
            return ready[:size], len(ready) > size or bool(active)
        if walk.buckets_read >= budget:
            return ready, True
        blocking = max(active, key=lambda key: walk.oldest.get(key) or (datetime.max.replace(tzinfo=UTC), ""))
        wanted = -(-(size + 1 - len(ready)) // search.BUCKET_SIZE)
        _read(user_id, walk, [blocking], buckets=min(wanted, budget - walk.buckets_read))


def _read(user_id: int, walk: _Walk, keys: list[str], *, buckets: int = 1) -> None:
    """One indexed query: the next ``buckets`` buckets of each of ``keys``."""
    wanted: dict[str, tuple[str, int]] = {}
    for key in keys:
        top = walk.next_bucket[key]
        for bucket in range(top, max(top - buckets, -1), -1):
            wanted[search.posting(key, bucket)] = (key, bucket)
        walk.next_bucket[key] = max(top - buckets, -1)
        walk.oldest[key] = None
    if not wanted:
        return
    walk.buckets_read += len(wanted)
    messages = aggregate(ChatMessage, {"user_id": Int64(user_id), "search_postings": {"$in": sorted(wanted)}})
    for message in messages:
        walk.found.setdefault(str(message.pk), message)
        for posting in set(message.search_postings) & wanted.keys():
            key, bucket = wanted[posting]
            walk.source.setdefault(str(message.pk), {})[key] = bucket
            oldest = walk.oldest.get(key)
            if oldest is None or _position(message) < oldest:
                walk.oldest[key] = _position(message)


def _matches(message: ChatMessage, words: list[_Word], parsed: search.Query) -> bool:
    held = set(message.search_terms)
    return all(held & word.terms.keys() for word in words) and all(
        search.phrase_positions(message.content, phrase) for phrase in parsed.phrases
    )


def _resume_points(walk: _Walk, last: tuple[datetime, str] | None) -> dict[str, int]:
    """Per driver term, the bucket the next page starts from: the highest one holding a match not
    shown yet, else the next unread one (-1: that term's walk is over)."""
    resume = dict(walk.next_bucket)
    for pk, buckets in walk.source.items():
        if last is None or _position(walk.found[pk]) < last:
            for key, bucket in buckets.items():
                resume[key] = max(resume[key], bucket)
    return resume


def _hits(
    user_id: int, page: list[ChatMessage], words: list[_Word], parsed: search.Query, *, scored: bool
) -> list[SearchHit]:
    """The page's hits in live sessions, with snippets; scored (relevance) only when asked."""
    live = (
        {
            session.pk: session
            for session in aggregate(
                ChatSession, {"user_id": Int64(user_id), "_id": {"$in": list({m.session_id for m in page})}}
            )
            if session.deleted_at is None
        }
        if page
        else {}
    )
    marked = [term for word in words for term in word.terms]
    hits = []
    for rank, message in enumerate(page):
        if message.session_id not in live:
            continue
        hits.append(
            SearchHit(
                message=message,
                session=live[message.session_id],
                snippet=search.snippet(message.content, marked, user_id=user_id),
                score=_score(message, words, parsed, rank=rank) if scored else 0.0,
            )
        )
    return hits


def _score(message: ChatMessage, words: list[_Word], parsed: search.Query, *, rank: int) -> float:
    """Relevance: how strongly each word matched (exact above prefix above typo), phrases found,
    how close the words stand, and recency within the page as the tie-breaker."""
    held = set(message.search_terms)
    strength = sum(max((s for key, (_, s) in word.terms.items() if key in held), default=0) for word in words)
    phrases = sum(len(search.phrase_positions(message.content, phrase)) > 0 for phrase in parsed.phrases)
    span = (
        search.proximity(message.content, [held & word.terms.keys() for word in words])
        if len(words) > 1
        else 0
    )
    closeness = len(words) / span if span else 0.0
    return strength + 2 * phrases + closeness + 1 / (2 + rank)


def _staff_search(parsed: search.Query, size: int) -> SearchResult:
    """Staff across every user: messages holding an exact term of every word, newest first (a
    scan: no index holds every user's terms; issue 22 makes per-user keys the only way)."""
    wanted = [{"search_terms": {"$in": list(word.exact)}} for word in parsed.words]
    with unscoped("staff: search across every user"):
        sessions = aggregate(
            ChatSession,
            {"$and": wanted},
            {"deleted_at": None},
            sort={"updated_at": -1, "_id": -1},
            limit=size,
        )
        messages = aggregate(
            ChatMessage, {"$and": wanted}, sort={"created_at": -1, "_id": -1}, limit=size * 2
        )
        phrases = [m for m in messages if all(search.phrase_positions(m.content, p) for p in parsed.phrases)]
        live = {
            session.pk: session
            for session in aggregate(ChatSession, {"_id": {"$in": list({m.session_id for m in phrases})}})
            if session.deleted_at is None
        }
    marked = [term for word in parsed.words for term in word.exact]
    hits = [
        SearchHit(message=m, session=live[m.session_id], snippet=search.snippet(m.content, marked))
        for m in phrases
        if m.session_id in live
    ][:size]
    return SearchResult(terms=marked, sessions=sessions, messages=hits)


def _write_cursor(last: tuple[datetime, str] | None, resume: dict[str, int]) -> str:
    """Where the next page starts: below ``last`` (none: the top), each term at its bucket."""
    state: dict[str, Any] = {"b": resume}
    if last is not None:
        state.update(a=round(last[0].timestamp() * 1000), i=last[1])
    payload = json.dumps(state, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _read_cursor(cursor: str | None) -> tuple[tuple[datetime, str] | None, dict[str, int]]:
    if cursor is None:
        return None, {}
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        resume = {str(key): int(bucket) for key, bucket in dict(raw["b"]).items()}
        if "a" not in raw:
            return None, resume
        at = datetime.fromtimestamp(int(raw["a"]) / 1000, tz=UTC)
        pk = str(ObjectId(raw["i"]))
    except (ValueError, KeyError, TypeError, InvalidId, binascii.Error, OverflowError) as exc:
        raise InvalidChatInput("cursor is not one this search returned.") from exc
    return (at, pk), resume
