"""Search of messages and session titles by their stored search terms."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from bson import Int64

from chats import search
from chats.exceptions import InvalidChatInput
from chats.models import ChatMessage, ChatSession
from chats.selectors.query import M, aggregate, page_size
from medibot.mongodb.shard_guard import unscoped


@dataclass(frozen=True)
class SearchHit:
    message: ChatMessage
    session: ChatSession
    snippet: str


@dataclass(frozen=True)
class SearchResult:
    terms: list[str]
    sessions: list[ChatSession]
    messages: list[SearchHit]


def search_chats(*, query: str, user_id: int | None, limit: int | None = None) -> SearchResult:
    """Messages and session titles containing every word of ``query``, newest first.

    ``user_id=None`` searches every user (staff only; enforced by the caller).
    """
    if not isinstance(query, str) or len(query) > 500:
        raise InvalidChatInput("q must be a string of at most 500 characters.")
    terms = search.query_terms(query)
    if not terms:
        raise InvalidChatInput("q must contain at least one word.")
    size = page_size(limit)
    # The longest term is usually the rarest: it drives the index range, the others filter.
    driver = max(terms, key=len)
    others = [term for term in terms if term != driver]

    def matching(model: type[M], extra: dict[str, Any], sort: dict[str, int], count: int) -> list[M]:
        indexed: dict[str, Any] = {"search_terms": driver}
        if user_id is not None:
            indexed = {"user_id": Int64(user_id), **indexed}
        rest = {**extra, **({"search_terms": {"$all": others}} if others else {})}
        return aggregate(model, indexed, rest, sort=sort, limit=count)

    with unscoped("staff: search across every user") if user_id is None else nullcontext():
        sessions = matching(ChatSession, {"deleted_at": None}, {"updated_at": -1, "_id": -1}, size)
        messages = matching(ChatMessage, {}, {"created_at": -1, "_id": -1}, size * 2)
        owners = {"user_id": Int64(user_id)} if user_id is not None else {}
        live = {
            session.pk: session
            for session in aggregate(
                ChatSession, {**owners, "_id": {"$in": list({m.session_id for m in messages})}}
            )
            if session.deleted_at is None and (user_id is None or session.user_id == user_id)
        }
    hits = [
        SearchHit(
            message=message, session=live[message.session_id], snippet=search.snippet(message.content, terms)
        )
        for message in messages
        if message.session_id in live
    ][:size]
    return SearchResult(terms=terms, sessions=sessions, messages=hits)
