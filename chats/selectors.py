"""Every read of the chat store that is more than ``.get()``.

Each query filters on ``user_id`` first (index prefix and shard key) and is bounded: message
pages are ranges of the gap-free ``order`` numbers, so their cost does not grow with a
session's length; lists are keyset-paginated with a hard maximum page size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from bson import Decimal128, Int64, ObjectId
from bson.errors import InvalidId
from django.conf import settings
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chats import documents, search
from chats.exceptions import InvalidChatInput, MessageNotFound, SessionNotFound
from chats.models import ChatMessage, ChatSession, MessageVote, Role, TokenUsage
from medibot.mongodb.shard_guard import unscoped

M = TypeVar("M", bound=Model)


def page_size(limit: int | None, *, default: int = 20) -> int:
    maximum = settings.CHAT_PAGE_SIZE_MAX
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise InvalidChatInput(f"page size must be between 1 and {maximum}.")
    return limit


# --- sessions -----------------------------------------------------------------------------------------


def get_session(*, user_id: int, session_id: str, include_deleted: bool = False) -> ChatSession:
    """The caller's session, or SessionNotFound — also for someone else's (never a 403)."""
    if not isinstance(session_id, str) or not 1 <= len(session_id) <= 64:
        raise SessionNotFound()
    found = _aggregate(ChatSession, {"user_id": Int64(user_id), "session_id": session_id}, limit=1)
    if not found or (found[0].deleted_at is not None and not include_deleted):
        raise SessionNotFound()
    return found[0]


def _aggregate(
    model: type[M],
    indexed: dict[str, Any],
    rest: dict[str, Any] | None = None,
    *,
    sort: dict[str, int] | None = None,
    limit: int | None = None,
) -> list[M]:
    """One aggregation: an index-covered ``$match`` first, then the other conditions.

    Splitting the filter keeps the first stage within one index on every MongoDB-compatible
    server; MongoDB itself coalesces the two stages.
    """
    pipeline: list[dict[str, Any]] = [{"$match": indexed}]
    if rest:
        pipeline.append({"$match": rest})
    if sort:
        pipeline.append({"$sort": sort})
    if limit is not None:
        pipeline.append({"$limit": limit})
    return list(model.objects.raw_aggregate(pipeline))  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SessionPage:
    items: list[ChatSession]
    next_cursor: str | None


# The newest sessions are read as descending, disjoint ``updated_at`` slices, each an index range
# on session_list_idx, instead of one sort over all of a user's sessions: a server that does not
# use the index for the sort (SecantusDB) would otherwise examine every session the user has.
# The first slice is a day; each next one is sized from the density seen so far (at least 2x,
# at most 32x wider), and after SESSION_SLICES probes the last slice has no lower bound.
FIRST_SESSION_SLICE = timedelta(days=1)
SESSION_SLICES = 6
UNBOUNDED_AFTER = timedelta(days=20 * 365)


def next_slice_width(*, width: timedelta, found: int, missing: int) -> timedelta:
    """Width of the next (older) slice after one of ``width`` held ``found`` sessions and
    ``missing`` more are wanted: enough at the density seen for ~2x what is missing."""
    if found == 0:
        return width * 32
    return min(max(width * (2 * missing / found), width * 2), width * 32)


@dataclass(frozen=True)
class _After:
    pinned: bool
    updated_at: datetime
    pk: ObjectId

    def condition(self) -> dict[str, Any]:
        """Within one ``is_pinned`` value: strictly after this session in (updated_at, _id) desc."""
        return {
            "$or": [
                {"updated_at": {"$lt": self.updated_at}},
                {"updated_at": self.updated_at, "_id": {"$lt": self.pk}},
            ]
        }


def list_sessions(
    *,
    user_id: int,
    archived: bool | None = False,
    pinned: bool | None = None,
    tag: str | None = None,
    session_type: str | None = None,
    updated_since: datetime | None = None,
    deleted: bool = False,
    cursor: str | None = None,
    limit: int | None = None,
) -> SessionPage:
    """The user's sessions, pinned first then most recently updated, one keyset page.

    Pinned sessions are one range on ``(user_id, is_pinned)``; the others are read newest first
    in bounded ``updated_at`` slices (see ``FIRST_SESSION_SLICE``), so the cost follows the page
    size, not how many sessions the user has.
    """
    size = page_size(limit)
    after = _after_session_cursor(cursor) if cursor else None
    rest: dict[str, Any] = {}
    if tag:
        rest["tags"] = tag
    if session_type:
        rest["session_type"] = session_type
    if updated_since:
        rest["updated_at"] = {"$gte": updated_since}
    owner = Int64(user_id)
    newest_first = {"updated_at": -1, "_id": -1}
    if deleted:
        # The trash: rare and small (cleanup purges it), one range on deleted_at.
        return _page(_trash(owner, archived, pinned, rest, after, size), size)
    live: dict[str, Any] = {"deleted_at": None}
    if archived is not None:
        live["is_archived"] = archived
    items: list[ChatSession] = []
    if pinned is not False and (after is None or after.pinned):
        keyset = after.condition() if after else {}
        items += _aggregate(
            ChatSession,
            {"user_id": owner, "is_pinned": True},
            {**live, **rest, **keyset},
            sort=newest_first,
            limit=size + 1,
        )
    if pinned is not True and len(items) <= size:
        unpinned_after = after if after is not None and not after.pinned else None
        items += _newest_unpinned(
            owner, live, rest, after=unpinned_after, since=updated_since, wanted=size + 1 - len(items)
        )
    return _page(items, size)


def _page(items: list[ChatSession], size: int) -> SessionPage:
    next_cursor = _session_cursor(items[size - 1]) if len(items) > size else None
    return SessionPage(items=items[:size], next_cursor=next_cursor)


def _newest_unpinned(
    owner: Int64,
    live: dict[str, Any],
    rest: dict[str, Any],
    *,
    after: _After | None,
    since: datetime | None,
    wanted: int,
) -> list[ChatSession]:
    """The ``wanted`` newest unpinned sessions after ``after``, slice by slice (newest first)."""
    prefixes = (
        [{**live, "is_archived": value} for value in (False, True)] if "is_archived" not in live else [live]
    )
    keyset = after.condition() if after else {}
    filters = {**rest, **keyset, "is_pinned": {"$ne": True}}
    filters.pop("updated_at", None)  # the slices bound updated_at themselves
    high: datetime | None = after.updated_at if after else None
    width = FIRST_SESSION_SLICE
    found: list[ChatSession] = []
    for probe in range(SESSION_SLICES + 1):
        top = high or documents.now()
        low: datetime | None = since
        if probe < SESSION_SLICES and width < UNBOUNDED_AFTER:
            low = top - width if since is None else max(top - width, since)
        bounds: dict[str, Any] = {}
        if low is not None:
            bounds["$gte"] = low
        if high is not None:
            bounds["$lte" if probe == 0 else "$lt"] = high
        window = [
            session
            for prefix in prefixes
            for session in _aggregate(
                ChatSession,
                {"user_id": owner, **prefix, **({"updated_at": bounds} if bounds else {})},
                filters,
                sort={"updated_at": -1, "_id": -1},
                limit=wanted - len(found),
            )
        ]
        window.sort(key=lambda session: (session.updated_at, session.pk), reverse=True)
        found += window[: wanted - len(found)]
        if len(found) >= wanted or low is None or low == since:
            break
        width = next_slice_width(width=width, found=len(window), missing=wanted - len(found))
        high = low
    return found


def _trash(
    owner: Int64,
    archived: bool | None,
    pinned: bool | None,
    rest: dict[str, Any],
    after: _After | None,
    size: int,
) -> list[ChatSession]:
    indexed: dict[str, Any] = {"user_id": owner, "deleted_at": {"$ne": None}}
    if archived is not None:
        indexed["is_archived"] = archived
    extra = dict(rest)
    if pinned is not None:
        extra["is_pinned"] = pinned
    if after is not None:
        extra["$or"] = [
            {"is_pinned": {"$lt": after.pinned}},
            {"is_pinned": after.pinned, **after.condition()["$or"][0]},
            {"is_pinned": after.pinned, **after.condition()["$or"][1]},
        ]
    return _aggregate(
        ChatSession, indexed, extra, sort={"is_pinned": -1, "updated_at": -1, "_id": -1}, limit=size + 1
    )


def _session_cursor(session: ChatSession) -> str:
    raw = json.dumps([session.is_pinned, session.updated_at.isoformat(), str(session.pk)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


CURSOR_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
CURSOR_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def _after_session_cursor(cursor: str) -> _After:
    """The session a cursor points at, in (is_pinned desc, updated_at desc, _id desc) order."""
    try:
        pinned, updated, pk = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        updated_at = parse_datetime(updated)
        object_id = ObjectId(pk)
        if updated_at is not None:
            # Naive or not, it must be a UTC instant that is a valid datetime in every zone the
            # backend converts through: the first and last day of the calendar are refused.
            if timezone.is_naive(updated_at):
                updated_at = timezone.make_aware(updated_at, UTC)
            updated_at = updated_at.astimezone(UTC)
            if not CURSOR_EARLIEST <= updated_at <= CURSOR_LATEST:
                raise ValueError("cursor time out of range")
    except (ValueError, TypeError, OverflowError, binascii.Error, InvalidId, UnicodeDecodeError) as exc:
        raise InvalidChatInput("cursor is not valid.") from exc
    if not isinstance(pinned, bool) or updated_at is None:
        raise InvalidChatInput("cursor is not valid.")
    return _After(pinned=pinned, updated_at=updated_at, pk=object_id)


# --- messages -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessagePage:
    items: list[ChatMessage]
    has_older: bool
    has_newer: bool

    @property
    def older_cursor(self) -> int | None:
        return self.items[0].order if self.items and self.has_older else None

    @property
    def newer_cursor(self) -> int | None:
        return self.items[-1].order if self.items and self.has_newer else None


def message_page(
    *, session: ChatSession, limit: int | None = None, before: int | None = None, after: int | None = None
) -> MessagePage:
    """The newest ``limit`` messages, or ``limit`` before/after an order number, oldest first.

    One range query on ``(user_id, session, order)``: orders are gap-free 1..message_count.
    """
    size = page_size(limit, default=50)
    if before is not None and after is not None:
        raise InvalidChatInput("give either before or after, not both.")
    total = session.message_count
    if before is not None:
        high, low = before - 1, max(1, before - size)
    elif after is not None:
        low, high = after + 1, min(total, after + size)
    else:
        high, low = total, max(1, total - size + 1)
    if high < low:
        return MessagePage(items=[], has_older=low > 1 and total > 0, has_newer=high < total)
    items = messages_in_range(session=session, low=low, high=high)
    return MessagePage(items=items, has_older=low > 1, has_newer=high < total)


def messages_in_range(*, session: ChatSession, low: int, high: int) -> list[ChatMessage]:
    """Messages ``low..high`` of a session, oldest first: one range on ``(user_id, session, order)``."""
    return _aggregate(
        ChatMessage,
        {"user_id": Int64(session.user_id), "session_id": session.pk, "order": {"$gte": low, "$lte": high}},
        sort={"order": 1},
    )


def iter_session_messages(*, session: ChatSession, batch: int = 500) -> Iterator[ChatMessage]:
    """Every message of a session in order, fetched in bounded ranges (exports)."""
    low = 1
    while low <= session.message_count:
        yield from messages_in_range(session=session, low=low, high=low + batch - 1)
        low += batch


def get_message(*, user_id: int, message_id: str) -> ChatMessage:
    """The caller's message (its session not deleted), or MessageNotFound."""
    if not isinstance(message_id, str) or not 1 <= len(message_id) <= 64:
        raise MessageNotFound()
    found = _aggregate(ChatMessage, {"user_id": Int64(user_id), "message_id": message_id}, limit=1)
    if not found:
        raise MessageNotFound()
    sessions = _aggregate(ChatSession, {"user_id": Int64(user_id), "_id": found[0].session_id}, limit=1)
    if not sessions or sessions[0].user_id != user_id or sessions[0].deleted_at is not None:
        raise MessageNotFound()
    found[0].session = sessions[0]
    return found[0]


def votes_for_messages(*, user_id: int, messages: list[ChatMessage]) -> dict[Any, str]:
    """The caller's vote on each of ``messages``: {message pk: "up"|"down"} in one indexed query."""
    if not messages:
        return {}
    votes = _aggregate(
        MessageVote, {"user_id": Int64(user_id), "message_id": {"$in": [m.pk for m in messages]}}
    )
    return {vote.message_id: vote.vote_type for vote in votes}


def messages_by_id(*, user_id: int, message_ids: list[str]) -> list[ChatMessage]:
    return _aggregate(ChatMessage, {"user_id": Int64(user_id), "message_id": {"$in": message_ids}})


def latest_exchanges(*, user_id: int, limit: int) -> list[dict[str, Any]]:
    """The user's latest question/answer pairs across sessions, newest first.

    Each user message is paired with the assistant message that follows it (order + 1).
    """
    size = page_size(limit)
    questions = _aggregate(
        ChatMessage,
        {"user_id": Int64(user_id)},
        {"role": Role.USER},
        sort={"created_at": -1, "_id": -1},
        limit=size,
    )
    if not questions:
        return []
    wanted = {(q.session_id, q.order + 1) for q in questions}
    answers = {
        (answer.session_id, answer.order): answer
        for answer in _aggregate(
            ChatMessage,
            {
                "user_id": Int64(user_id),
                "session_id": {"$in": list({q.session_id for q in questions})},
                "order": {"$in": sorted({q.order + 1 for q in questions})},
            },
        )
        if answer.role == Role.ASSISTANT and (answer.session_id, answer.order) in wanted
    }
    sessions = {
        session.pk: session
        for session in _aggregate(
            ChatSession, {"user_id": Int64(user_id), "_id": {"$in": list({q.session_id for q in questions})}}
        )
        if session.deleted_at is None
    }
    return [
        {
            "conversation_id": sessions[q.session_id].session_id,
            "message": q.content,
            "response": answers[(q.session_id, q.order + 1)].content
            if (q.session_id, q.order + 1) in answers
            else None,
            "timestamp": q.created_at,
        }
        for q in questions
        if q.session_id in sessions
    ]


def chat_counts_by_user(*, user_ids: list[int]) -> dict[int, dict[str, int]]:
    """Session and message counts of many users in one aggregation (stored counters, no counting)."""
    if not user_ids:
        return {}
    rows = documents.collection(ChatSession).aggregate(
        [
            {"$match": {"user_id": {"$in": [Int64(user_id) for user_id in user_ids]}}},
            {"$match": {"deleted_at": None}},
            {"$group": {"_id": "$user_id", "sessions": {"$sum": 1}, "messages": {"$sum": "$message_count"}}},
        ]
    )
    return {
        int(row["_id"]): {"session_count": int(row["sessions"]), "message_count": int(row["messages"])}
        for row in rows
    }


@unscoped("staff: newest messages of every user")
def latest_chats_all_users(*, limit: int) -> list[dict[str, Any]]:
    """The newest messages of every user (staff; an index range on ``created_at``)."""
    messages = _aggregate(ChatMessage, {}, sort={"created_at": -1, "_id": -1}, limit=page_size(limit))
    sessions = {
        session.pk: session
        for session in _aggregate(ChatSession, {"_id": {"$in": list({m.session_id for m in messages})}})
    }
    return [
        {
            "user_id": message.user_id,
            "session_id": sessions[message.session_id].session_id if message.session_id in sessions else None,
            "message_id": message.message_id,
            "role": message.role,
            "content": message.content,
            "created_at": message.created_at,
        }
        for message in messages
    ]


@unscoped("background: JSON backup of changed sessions")
def sessions_updated_between(*, since: datetime | None, until: datetime) -> list[ChatSession]:
    """Every user's sessions changed in a window (background jobs; index on ``updated_at``)."""
    window: dict[str, Any] = {"$lt": until, **({"$gte": since} if since else {})}
    return _aggregate(ChatSession, {"updated_at": window}, {"deleted_at": None}, sort={"updated_at": 1})


# --- search -------------------------------------------------------------------------------------------------


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
        return _aggregate(model, indexed, rest, sort=sort, limit=count)

    with unscoped("staff: search across every user") if user_id is None else nullcontext():
        sessions = matching(ChatSession, {"deleted_at": None}, {"updated_at": -1, "_id": -1}, size)
        messages = matching(ChatMessage, {}, {"created_at": -1, "_id": -1}, size * 2)
        owners = {"user_id": Int64(user_id)} if user_id is not None else {}
        live = {
            session.pk: session
            for session in _aggregate(
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


# --- statistics ---------------------------------------------------------------------------------------------


def _number(value: Any) -> Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return Decimal(value or 0)


def session_statistics(*, session: ChatSession) -> dict[str, Any]:
    owned = {"user_id": Int64(session.user_id), "session_id": session.pk}
    by_role = {
        row["_id"]: row["count"]
        for row in documents.collection(ChatMessage).aggregate(
            [{"$match": owned}, {"$group": {"_id": "$role", "count": {"$sum": 1}}}]
        )
    }
    usage = next(
        documents.collection(TokenUsage).aggregate(
            [
                {"$match": owned},
                {"$group": {"_id": None, "tokens": {"$sum": "$total_tokens"}, "cost": {"$sum": "$cost"}}},
            ]
        ),
        {"tokens": 0, "cost": 0},
    )
    votes = {
        row["_id"]: row["count"]
        for row in documents.collection(MessageVote).aggregate(
            [{"$match": owned}, {"$group": {"_id": "$vote_type", "count": {"$sum": 1}}}]
        )
    }
    first = next(iter(messages_in_range(session=session, low=1, high=1)), None)
    return {
        "total_messages": session.message_count,
        "message_counts_by_role": {role: by_role.get(role, 0) for role in Role.values},
        "total_tokens": int(usage["tokens"]),
        "total_cost": _number(usage["cost"]),
        "votes": {"up": votes.get("up", 0), "down": votes.get("down", 0)},
        "first_message_at": first.created_at if first else None,
        "last_message_at": session.last_message_at,
    }


def token_usage_by_model(
    *,
    user_id: int,
    session: ChatSession | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    match: dict[str, Any] = {"user_id": Int64(user_id)}
    if session is not None:
        match["session_id"] = session.pk
    if since or until:
        match["created_at"] = {
            **({"$gte": since} if since else {}),
            **({"$lt": until} if until else {}),
        }
    rows = documents.collection(TokenUsage).aggregate(
        [
            {"$match": match},
            {
                "$group": {
                    "_id": "$model",
                    "prompt_tokens": {"$sum": "$prompt_tokens"},
                    "completion_tokens": {"$sum": "$completion_tokens"},
                    "total_tokens": {"$sum": "$total_tokens"},
                    "cost": {"$sum": "$cost"},
                    "messages": {"$sum": 1},
                }
            },
            {"$sort": {"_id": 1}},
        ]
    )
    by_model: dict[str, dict[str, Any]] = {
        row["_id"]: {
            "prompt_tokens": int(row["prompt_tokens"]),
            "completion_tokens": int(row["completion_tokens"]),
            "total_tokens": int(row["total_tokens"]),
            "cost": _number(row["cost"]),
            "messages": int(row["messages"]),
        }
        for row in rows
    }
    total_tokens = sum(int(row["total_tokens"]) for row in by_model.values())
    total_cost = sum((Decimal(row["cost"]) for row in by_model.values()), Decimal(0))
    return {"by_model": by_model, "total_tokens": total_tokens, "total_cost": total_cost}


@unscoped("background: daily statistics")
def totals_for_day(*, day: date) -> dict[str, Any]:
    """Totals of one UTC day over every user (a background job; not on the request path)."""
    from chats.services import day_bounds

    start, end = day_bounds(day)
    window = {"created_at": {"$gte": start, "$lt": end}}
    messages = documents.collection(ChatMessage)
    roles: Counter[str] = Counter()
    per_session: Counter[Any] = Counter()
    users: set[int] = set()
    for row in messages.aggregate(
        [
            {"$match": window},
            {"$group": {"_id": {"s": "$session_id", "r": "$role", "u": "$user_id"}, "n": {"$sum": 1}}},
        ]
    ):
        roles[row["_id"]["r"]] += row["n"]
        per_session[row["_id"]["s"]] += row["n"]
        users.add(int(row["_id"]["u"]))
    tokens_by_model: dict[str, int] = {}
    cost_by_model: dict[str, str] = {}
    total_cost = Decimal(0)
    for row in documents.collection(TokenUsage).aggregate(
        [
            {"$match": window},
            {"$group": {"_id": "$model", "tokens": {"$sum": "$total_tokens"}, "cost": {"$sum": "$cost"}}},
            {"$sort": {"_id": 1}},
        ]
    ):
        tokens_by_model[row["_id"]] = int(row["tokens"])
        cost = _number(row["cost"])
        cost_by_model[row["_id"]] = str(cost)
        total_cost += cost
    new_sessions = documents.collection(ChatSession).count_documents(window)
    total_messages = sum(roles.values())
    return {
        "total_sessions": len(per_session),
        "new_sessions": new_sessions,
        "total_messages": total_messages,
        "active_users": len(users),
        "total_tokens": sum(tokens_by_model.values()),
        "total_cost": total_cost,
        "tokens_by_model": tokens_by_model,
        "cost_by_model": cost_by_model,
        "messages_by_role": dict(sorted(roles.items())),
        "average_session_length": round(total_messages / len(per_session), 2) if per_session else 0.0,
    }


@unscoped("staff: store-wide statistics")
def global_statistics(*, days: int = 30) -> dict[str, Any]:
    """Store-wide totals for staff (a full aggregation: background/staff use only)."""
    from chats.models import DailyChatStats

    messages_by_role = {
        row["_id"]: row["count"]
        for row in documents.collection(ChatMessage).aggregate(
            [{"$group": {"_id": "$role", "count": {"$sum": 1}}}]
        )
    }
    tokens_by_model = {
        row["_id"]: int(row["tokens"])
        for row in documents.collection(TokenUsage).aggregate(
            [{"$group": {"_id": "$model", "tokens": {"$sum": "$total_tokens"}}}, {"$sort": {"_id": 1}}]
        )
    }
    sessions = documents.collection(ChatSession)
    return {
        "total_sessions": sessions.count_documents({"deleted_at": None}),
        "total_messages": sum(messages_by_role.values()),
        "total_users": len(sessions.distinct("user_id")),
        "messages_by_role": messages_by_role,
        "tokens_by_model": tokens_by_model,
        "daily": list(DailyChatStats.objects.order_by("-date")[:days]),
    }


def export_session(*, session: ChatSession) -> dict[str, Any]:
    """A session with all its messages, for export (messages read in bounded batches)."""
    return {"session": session, "messages": list(iter_session_messages(session=session))}
