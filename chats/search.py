"""Portable full-text search terms: works on any MongoDB-compatible server (no ``$text`` index).

Every message and session title stores its normalised terms (case-folded, accents removed,
Snowball-stemmed) in ``search_terms``; a multikey index that starts with ``user_id`` finds the
documents that contain all the words of a query.
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


def snippet(text: str, terms: list[str], *, width: int = SNIPPET_CHARS) -> str:
    """HTML-escaped excerpt around the first match with every matched word in ``<mark>``."""
    wanted = set(terms)
    matches = [m for m in _WORD.finditer(text) if stem(fold(m.group())) in wanted]
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
