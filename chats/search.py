"""Portable full-text search terms and the keys derived from them (no ``$text``, no regex, no range).

Every message and session title stores its normalised terms (case-folded, accents removed,
Snowball-stemmed in the message's language) in ``search_terms``. Every lookup is an EXACT match on
a derived key (a term, a prefix of a term, a SymSpell deletion of a term), and every stored key
goes through ``search_key``: issue 22 replaces it by a per-patient keyed HMAC without touching the
rest. Messages are found through ``search_postings``: ``<term key>~<bucket>``, where the bucket is
the term's per-user count at write time divided by ``BUCKET_SIZE`` (``chats.search_index``), so
the newest matches of a term are the few postings of its highest buckets.
"""

from __future__ import annotations

import html
import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import snowballstemmer

from chats import crypto

MAX_TERM_CHARS = 64
MAX_TERMS_PER_DOCUMENT = 2000
MAX_QUERY_TERMS = 8
MIN_PREFIX_CHARS = 3  # shorter words match whole terms only: "a*" would be most of the vocabulary
SNIPPET_CHARS = 160
BUCKET_SIZE = 8  # postings per (user, term, bucket): one page reads a few buckets, never more
POSTING_SEPARATOR = "~"
COUNTS_KEY = ""  # the vocabulary key of a user's counts document (chats.search_index): no term is empty

# Snowball algorithms by language code; the query side stems in every one of them.
LANGUAGES = {
    "en": "english",
    "fr": "french",
    "es": "spanish",
    "de": "german",
    "it": "italian",
    "pt": "portuguese",
    "nl": "dutch",
}
DEFAULT_LANGUAGE = "en"

# Frequent short words of each language (accents folded): enough to tell a message's language.
_STOPWORDS = {
    "en": "the and is are was i you my me have has with for not this that what of to it in on be do",
    "fr": "le la les et est je j ai de des du un une mon ma mes pas avec pour que qui au aux ce suis",
    "es": "el la los las y es yo de del un una mi mis con por para que no tengo esta estoy muy",
    "de": "der die das und ist ich habe du mein meine mit fur nicht ein eine seit auf zu sehr bin",
    "it": "il lo la gli le e di da un una mio mia ho con per che non sono molto sto del della",
    "pt": "o a os as e de do da um uma meu minha com para que nao tenho estou muito em no na",
    "nl": "de het een en is ik heb mijn met voor niet dat van op te zijn ben erg sinds",
}
_STOPWORD_SETS = {language: frozenset(words.split()) for language, words in _STOPWORDS.items()}

_WORD = re.compile(r"\w+", re.UNICODE)
_PHRASE = re.compile(r'"([^"]*)"')
_stemmers = {code: snowballstemmer.stemmer(name) for code, name in LANGUAGES.items()}


def search_key(user_id: int, text: str) -> str:
    """The stored form of one term, prefix or deletion of ``user_id``'s vocabulary: the only
    place a key is derived. With CHAT_ENCRYPTION on it is the patient's keyed HMAC
    (``crypto.search_hmac``), so terms, postings and the vocabulary hold no plaintext word; equal
    words of one patient give equal keys, which is all exact-key lookups need."""
    if crypto.enabled():
        return crypto.search_hmac(user_id, text)
    return text


def fold(text: str) -> str:
    """Lower-case and strip accents: "Fièvre" -> "fievre"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@lru_cache(maxsize=65536)
def stem(word: str, language: str = DEFAULT_LANGUAGE) -> str:
    return str(_stemmers[language].stemWord(word))


def words(text: str) -> list[str]:
    return [word for word in _WORD.findall(fold(text)) if len(word) <= MAX_TERM_CHARS and word != "_"]


def language_of(text: str, default: str = DEFAULT_LANGUAGE) -> str:
    """The language whose frequent words ``text`` uses most (``default`` on no evidence or a tie)."""
    folded = words(text)
    scores = {code: sum(word in stopwords for word in folded) for code, stopwords in _STOPWORD_SETS.items()}
    best = max(scores.values())
    leaders = [code for code, score in scores.items() if score == best]
    if best == 0 or (len(leaders) > 1 and default in leaders):
        return default
    return leaders[0]


def terms_for(text: str, language: str | None = None) -> list[str]:
    """The distinct stemmed terms of a document, in first-seen order, capped; the language is
    detected from the text unless given."""
    language = language or language_of(text)
    seen: dict[str, None] = {}
    for word in words(text):
        seen.setdefault(stem(word, language), None)
        if len(seen) >= MAX_TERMS_PER_DOCUMENT:
            break
    return list(seen)


def document_keys(user_id: int, text: str, language: str | None = None) -> list[str]:
    """What a message or title stores in ``search_terms``: its terms as ``user_id``'s keys."""
    return [search_key(user_id, term) for term in terms_for(text, language)]


def posting(key: str, bucket: int) -> str:
    return f"{key}{POSTING_SEPARATOR}{bucket}"


def bucket_of(count_before: int) -> int:
    """The bucket of a term's next posting, given how many the user already has."""
    return count_before // BUCKET_SIZE


def prefixes(term: str) -> list[str]:
    """The prefixes a query word may be of ``term`` ("headach": "hea", "head", "heada", "headac")."""
    return [term[:end] for end in range(MIN_PREFIX_CHARS, len(term))]


def typo_distance(length: int) -> int:
    """Edits tolerated for a word of ``length`` letters: 1 for 5-8, 2 for 9 or more."""
    if length >= 9:
        return 2
    return 1 if length >= 5 else 0


def deletions(word: str, distance: int) -> set[str]:
    """``word`` and every string made from it by deleting up to ``distance`` letters (SymSpell):
    two words within ``distance`` edits share one of these."""
    found = {word}
    frontier = {word}
    for _ in range(distance):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w)) if len(w) > 1}
        found |= frontier
    return found


def has_digit(term: str) -> bool:
    """Numbers ("150", "2mg") get no prefix or typo keys: 150 is not a misspelt 160."""
    return any(char.isdigit() for char in term)


def stored_typo_keys(term: str) -> set[str]:
    """The deletion keys a vocabulary term is stored under (its stem is a letter or two shorter
    than the word, hence the thresholds one below ``typo_distance``'s)."""
    return deletions(term, typo_distance(len(term) + 1))


def term_keys(user_id: int, term: str) -> tuple[list[str], list[str]]:
    """The prefix keys and deletion keys under which ``user_id``'s vocabulary term ``term`` is
    found by a query word that begins it or misspells it."""
    return (
        [search_key(user_id, prefix) for prefix in prefixes(term)],
        sorted({search_key(user_id, deletion) for deletion in stored_typo_keys(term)}),
    )


def pending_term(entry: dict[str, Any]) -> str | None:
    """The plain term of a vocabulary entry waiting in a counts document (``chats.search_index``);
    None for an entry stored with its prefix and deletion keys (written before they were left out)."""
    if "term" not in entry:
        return None
    return str(crypto.decrypt_value(entry["term"]))


@dataclass(frozen=True)
class QueryWord:
    """One word of a query: the exact terms it may mean (its stem in every language, and itself)."""

    word: str
    exact: tuple[str, ...]

    @property
    def prefix_probes(self) -> tuple[str, ...]:
        if len(self.word) < MIN_PREFIX_CHARS:
            return ()
        return tuple(term for term in self.exact if len(term) >= MIN_PREFIX_CHARS)

    @property
    def typo_probes(self) -> tuple[str, ...]:
        distance = typo_distance(len(self.word))
        if not distance:
            return ()
        return tuple(sorted(set().union(*(deletions(term, distance) for term in self.exact))))


@dataclass(frozen=True)
class Query:
    words: tuple[QueryWord, ...]
    phrases: tuple[tuple[str, ...], ...] = field(default=())


def query_word(word: str) -> QueryWord:
    exact = dict.fromkeys([stem(word, language) for language in LANGUAGES] + [word])
    return QueryWord(word=word, exact=tuple(exact))


def parse_query(text: str) -> Query:
    """The words a query must all match (regex and operator characters are just punctuation) and
    its quoted phrases, each a sequence of folded words that must appear in that order."""
    phrases = tuple(tuple(words(phrase)) for phrase in _PHRASE.findall(text) if words(phrase))
    unique = list(dict.fromkeys(words(text.replace('"', " "))))[:MAX_QUERY_TERMS]
    return Query(words=tuple(query_word(word) for word in unique), phrases=phrases)


def phrase_positions(text: str, phrase: tuple[str, ...]) -> list[int]:
    """Word positions in ``text`` where ``phrase`` starts (each word compared by any stem)."""
    folded = words(text)
    wanted = [set(query_word(word).exact) for word in phrase]
    return [
        start
        for start in range(len(folded) - len(phrase) + 1)
        if all(_same_word(folded[start + i], wanted[i]) for i in range(len(phrase)))
    ]


def _same_word(word: str, wanted: set[str]) -> bool:
    return word in wanted or any(stem(word, language) in wanted for language in LANGUAGES)


def proximity(text: str, groups: Iterable[set[str]]) -> int:
    """The smallest span of words in ``text`` holding one term of every group (0 when the text
    lacks a group): a phrase-like closeness for relevance."""
    sets = [group for group in groups if group]
    if not sets:
        return 0
    positions = [
        [i for i, word in enumerate(words(text)) if any(stem(word, code) in group for code in LANGUAGES)]
        for group in sets
    ]
    if any(not found for found in positions):
        return 0
    return min(max(combo) - min(combo) + 1 for combo in itertools.product(*[p[:8] for p in positions]))


@lru_cache(maxsize=65536)
def _forms(word: str) -> frozenset[str]:
    """A word of a text as a query term may name it: folded, and stemmed in every language (a
    snippet marks a word when one of these is a matched term; cached like ``stem``)."""
    folded = fold(word)
    return frozenset({folded, *(stem(folded, language) for language in LANGUAGES)})


def snippet(
    text: str, terms: Iterable[str], *, width: int = SNIPPET_CHARS, user_id: int | None = None
) -> str:
    """HTML-escaped excerpt around the first match with every matched word in ``<mark>``.

    ``terms`` are stored keys: with ``user_id``, a word's forms go through that user's
    ``search_key`` first (with encryption on the keys are keyed hashes, not words)."""
    wanted = set(terms)
    owner = user_id if crypto.enabled() else None

    def matched(word: str) -> bool:
        forms = _forms(word)
        if owner is not None:
            forms = frozenset(search_key(owner, form) for form in forms)
        return not wanted.isdisjoint(forms)

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
