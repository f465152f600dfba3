"""Portable full-text search terms: works on any MongoDB-compatible server (no ``$text`` index).

Every message and session title stores its normalised terms (case-folded, accents removed,
Snowball-stemmed) in ``search_terms``; a multikey index that starts with ``user_id`` finds the
documents that contain all the words of a query. With ``prefix=True`` each word matches the terms
that start with it ("head" finds "headache"): an anchored range on the same index, never a regex scan.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

import snowballstemmer

MAX_TERM_CHARS = 64
MAX_TERMS_PER_DOCUMENT = 2000
MAX_QUERY_TERMS = 8
MIN_PREFIX_CHARS = 3  # shorter words match whole terms only: "a*" would be most of the index
SNIPPET_CHARS = 160

_WORD = re.compile(r"\w+", re.UNICODE)
_stemmer = snowballstemmer.stemmer("english")


def fold(text: str) -> str:
    """Lower-case and strip accents: "Fièvre" -> "fievre"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def words(text: str) -> list[str]:
    return [word for word in _WORD.findall(fold(text)) if len(word) <= MAX_TERM_CHARS and word != "_"]


def terms_for(text: str) -> list[str]:
    """The distinct stemmed terms of a document, in first-seen order, capped."""
    seen: dict[str, None] = {}
    for word in words(text):
        seen.setdefault(stem(word), None)
        if len(seen) >= MAX_TERMS_PER_DOCUMENT:
            break
    return list(seen)


def query_terms(query: str) -> list[str]:
    """The terms a query must all match; regex metacharacters are just punctuation here."""
    return terms_for(query)[:MAX_QUERY_TERMS]


def prefix_query_terms(query: str) -> list[str]:
    """A query's words as prefixes of stored terms: what a word and its stem share ("headaches" and
    its stem "headach" -> "headach"; "happy" and "happi" -> "happ"), so every form of it matches."""
    seen: dict[str, None] = {}
    for word in words(query):
        stemmed = stem(word)
        shared = next((i for i, (a, b) in enumerate(zip(word, stemmed, strict=False)) if a != b), None)
        seen.setdefault(word[: min(len(word), len(stemmed)) if shared is None else shared] or word, None)
    return list(seen)[:MAX_QUERY_TERMS]


def terms_of_query(query: str, *, prefix: bool = False) -> list[str]:
    return prefix_query_terms(query) if prefix else query_terms(query)


def is_prefix(term: str, *, prefix: bool) -> bool:
    return prefix and len(term) >= MIN_PREFIX_CHARS


def term_range(term: str) -> dict[str, str]:
    """Every term that starts with ``term``: ``[term, term's successor)``, a range of the index."""
    return {"$gte": term, "$lt": term[:-1] + chr(ord(term[-1]) + 1)}


def term_condition(term: str, *, prefix: bool = False) -> str | dict[str, object]:
    """What ``search_terms`` must hold for one query term: the term, or (prefix) one element in its
    range. ``$elemMatch`` makes one element satisfy both bounds (a bare range on an array could be
    met by two different elements); ``index_bound`` is the plain range an index scan can use first."""
    if not is_prefix(term, prefix=prefix):
        return term
    return {"$elemMatch": term_range(term)}


def index_bound(term: str, *, prefix: bool = False) -> str | dict[str, str]:
    """The ``search_terms`` condition of the first, index-covered ``$match`` stage (a superset for
    prefixes; ``term_condition`` in the next stage keeps only real matches)."""
    return term_range(term) if is_prefix(term, prefix=prefix) else term


def snippet(text: str, terms: list[str], *, width: int = SNIPPET_CHARS, prefix: bool = False) -> str:
    """HTML-escaped excerpt around the first match with every matched word in ``<mark>``."""
    wanted = set(terms)
    prefixes = tuple(term for term in terms if is_prefix(term, prefix=prefix))

    def matched(word: str) -> bool:
        stemmed = stem(fold(word))
        return stemmed in wanted or bool(prefixes and stemmed.startswith(prefixes))

    matches = [m for m in _WORD.finditer(text) if matched(m.group())]
    start = 0
    if matches:
        start = max(0, matches[0].start() - width // 4)
        while start > 0 and not text[start - 1].isspace() and matches[0].start() - start < width // 2:
            start -= 1
    end = min(len(text), start + width)
    pieces: list[str] = ["…" if start > 0 else ""]
    cursor = start
    for match in matches:
        if match.start() < start or match.end() > end:
            continue
        pieces.append(html.escape(text[cursor : match.start()]))
        pieces.append(f"<mark>{html.escape(match.group())}</mark>")
        cursor = match.end()
    pieces.append(html.escape(text[cursor:end]))
    pieces.append("…" if end < len(text) else "")
    return "".join(pieces)
