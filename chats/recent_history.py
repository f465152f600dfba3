"""The recent history of active chat sessions, kept beside MongoDB for its outages.

The chat turn writes every message it stores or queues here (``remember_turn``), in one pipeline
round trip: the last CHAT_RECENT_CACHE_MESSAGES messages of each session active in the last
CHAT_RECENT_CACHE_DAYS days. It is read only while MongoDB is unreachable (or a session's writes
are still queued): the newest page of a session, the list of recent sessions and the responder's
history, merged with the outbox's pending entries, which are the authoritative tail of a session.

Layout (Redis in production, the ``recent_history`` Django cache otherwise), per user:
``chat-recent:<user>`` a sorted set of session ids scored by last activity (trimmed to the
window), and per session ``…:<session>:m`` the message list (trimmed to the last 50) and
``…:<session>:s`` the session's fields. Every key expires after the window.

Messages queued in the outbox have no order number yet; it is derived on read from the stored
message before them (or the session's stored count), exactly as the outbox delivery assigns it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.utils.dateparse import parse_datetime

from chats import builders, crypto, store
from chats.models import ChatMessage, ChatSession
from chats.outbox.models import OutboxEntry

logger = logging.getLogger(__name__)

CACHE_ALIAS = "recent_history"


class CacheUnavailable(Exception):
    """The recent-history cache could not be read."""


# --- encoding ---------------------------------------------------------------------------------------------


def _message_fields(message: ChatMessage, *, stored: bool) -> dict[str, Any]:
    return {
        "message_id": message.message_id,
        "role": message.role,
        "content": message.content,
        "order": message.order if stored and message.order else None,
        "status": message.status,
        "model": message.model,
        "parent_message_id": message.parent_message_id,
        "source_documents": message.source_documents,
        "agent_steps": message.agent_steps,
        "error_info": message.error_info,
        "metadata": message.metadata,
        "created_at": message.created_at.isoformat(),
    }


def _session_fields(session: ChatSession, *, stored_count: int) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "title": session.title,
        "session_type": session.session_type,
        "channel": session.channel,
        "is_archived": session.is_archived,
        "is_pinned": session.is_pinned,
        "tags": list(session.tags or []),
        "metadata": session.metadata or {},
        "created_at": session.created_at.isoformat(),
        "stored_count": stored_count,
    }


def _when(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        raise ValueError("recent-history timestamp is not ISO 8601")
    return moment


def _session_from(user_id: int, fields: dict[str, Any], updated_at: datetime, count: int) -> ChatSession:
    session = builders.session(
        user_id=user_id,
        session_id=fields["session_id"],
        title=fields.get("title", ""),
        session_type=fields.get("session_type", "general"),
        channel=fields.get("channel", "web"),
        tags=fields.get("tags", []),
        metadata=fields.get("metadata", {}),
        created_at=_when(fields["created_at"]),
    )
    session.is_archived = bool(fields.get("is_archived"))
    session.is_pinned = bool(fields.get("is_pinned"))
    session.updated_at = updated_at
    session.last_message_at = updated_at if count else None
    session.message_count = count
    return session


def _message_from(session: ChatSession, fields: dict[str, Any], order: int | None) -> ChatMessage:
    return builders.message(
        session=session,
        role=fields["role"],
        content=fields["content"],
        message_id=fields["message_id"],
        created_at=_when(fields["created_at"]),
        order=order or 0,
        status=fields["status"],
        model=fields["model"],
        parent_message_id=fields["parent_message_id"],
        source_documents=fields["source_documents"],
        agent_steps=fields["agent_steps"],
        error_info=fields["error_info"],
        metadata=fields["metadata"],
    )


# --- backends ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Keys:
    index: str
    messages: str
    session: str


class _Backend(Protocol):
    def write(
        self, user_id: int, session_id: str, messages: list[str], session: str | None, at: float
    ) -> None: ...

    def read_session(self, user_id: int, session_id: str) -> tuple[float | None, str | None, list[str]]: ...

    def read_index(self, user_id: int) -> list[tuple[str, float, str | None]]: ...

    def purge_session(self, user_id: int, session_id: str) -> None: ...

    def purge_user(self, user_id: int) -> None: ...


def _window_seconds() -> int:
    return int(timedelta(days=settings.CHAT_RECENT_CACHE_DAYS).total_seconds())


class _RedisBackend:
    """Raw redis commands on the Django RedisCache's own client and key prefix: one pipeline per call."""

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache

    def keys(self, user_id: int, session_id: str = "") -> _Keys:
        index = self.cache.make_and_validate_key(f"chat-recent:{user_id}")
        return _Keys(index=index, messages=f"{index}:{session_id}:m", session=f"{index}:{session_id}:s")

    def client(self) -> Any:
        return self.cache._cache.get_client(write=True)  # type: ignore[attr-defined]

    def write(
        self, user_id: int, session_id: str, messages: list[str], session: str | None, at: float
    ) -> None:
        keys = self.keys(user_id, session_id)
        ttl = _window_seconds()
        pipe = self.client().pipeline(transaction=True)
        pipe.rpush(keys.messages, *messages)
        pipe.ltrim(keys.messages, -settings.CHAT_RECENT_CACHE_MESSAGES, -1)
        pipe.expire(keys.messages, ttl)
        if session is not None:
            pipe.set(keys.session, session, ex=ttl)
        else:
            pipe.expire(keys.session, ttl)
        pipe.zadd(keys.index, {session_id: at})
        pipe.zremrangebyscore(keys.index, "-inf", at - ttl)
        pipe.expire(keys.index, ttl)
        pipe.execute()

    def read_session(self, user_id: int, session_id: str) -> tuple[float | None, str | None, list[str]]:
        keys = self.keys(user_id, session_id)
        pipe = self.client().pipeline(transaction=False)
        pipe.zscore(keys.index, session_id)
        pipe.get(keys.session)
        pipe.lrange(keys.messages, 0, -1)
        at, session, messages = pipe.execute()
        return at, _text(session), [_text(item) or "" for item in messages]

    def read_index(self, user_id: int) -> list[tuple[str, float, str | None]]:
        client = self.client()
        keys = self.keys(user_id)
        members = client.zrangebyscore(
            keys.index, store.now().timestamp() - _window_seconds(), "+inf", withscores=True
        )
        ids = [_text(member) or "" for member, _ in members]
        sessions = client.mget([self.keys(user_id, session_id).session for session_id in ids]) if ids else []
        return [
            (session_id, score, _text(fields))
            for session_id, (_, score), fields in zip(ids, members, sessions, strict=True)
        ]

    def purge_session(self, user_id: int, session_id: str) -> None:
        keys = self.keys(user_id, session_id)
        pipe = self.client().pipeline(transaction=True)
        pipe.delete(keys.messages, keys.session)
        pipe.zrem(keys.index, session_id)
        pipe.execute()

    def purge_user(self, user_id: int) -> None:
        client = self.client()
        keys = self.keys(user_id)
        ids = [_text(member) or "" for member in client.zrange(keys.index, 0, -1)]
        doomed = [keys.index]
        for session_id in ids:
            session_keys = self.keys(user_id, session_id)
            doomed += [session_keys.messages, session_keys.session]
        client.delete(*doomed)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class _DjangoCacheBackend:
    """Any other Django cache (the embedded run's file cache, tests' local memory): no network.

    A write reads then writes the session's entries: two turns of one session at the same moment
    in two processes may keep only one of them (single-host runs; Redis appends atomically).
    """

    def __init__(self, cache: BaseCache) -> None:
        self.cache = cache

    @staticmethod
    def keys(user_id: int, session_id: str = "") -> _Keys:
        index = f"chat-recent:{user_id}"
        return _Keys(index=index, messages=f"{index}:{session_id}:m", session=f"{index}:{session_id}:s")

    def write(
        self, user_id: int, session_id: str, messages: list[str], session: str | None, at: float
    ) -> None:
        keys = self.keys(user_id, session_id)
        ttl = _window_seconds()
        found = self.cache.get_many([keys.index, keys.messages, keys.session])
        index = {sid: score for sid, score in found.get(keys.index, {}).items() if score >= at - ttl}
        index[session_id] = at
        kept = (found.get(keys.messages, []) + messages)[-settings.CHAT_RECENT_CACHE_MESSAGES :]
        self.cache.set_many(
            {
                keys.index: index,
                keys.messages: kept,
                keys.session: session if session is not None else found.get(keys.session),
            },
            timeout=ttl,
        )

    def read_session(self, user_id: int, session_id: str) -> tuple[float | None, str | None, list[str]]:
        keys = self.keys(user_id, session_id)
        found = self.cache.get_many([keys.index, keys.messages, keys.session])
        return (
            found.get(keys.index, {}).get(session_id),
            found.get(keys.session),
            found.get(keys.messages, []),
        )

    def read_index(self, user_id: int) -> list[tuple[str, float, str | None]]:
        cutoff = store.now().timestamp() - _window_seconds()
        index = self.cache.get(self.keys(user_id).index, {})
        return [
            (session_id, score, self.cache.get(self.keys(user_id, session_id).session))
            for session_id, score in index.items()
            if score >= cutoff
        ]

    def purge_session(self, user_id: int, session_id: str) -> None:
        keys = self.keys(user_id, session_id)
        index = self.cache.get(keys.index, {})
        index.pop(session_id, None)
        self.cache.delete_many([keys.messages, keys.session])
        self.cache.set(keys.index, index, timeout=_window_seconds())

    def purge_user(self, user_id: int) -> None:
        keys = self.keys(user_id)
        ids = self.cache.get(keys.index, {})
        doomed = [keys.index]
        for session_id in ids:
            session_keys = self.keys(user_id, session_id)
            doomed += [session_keys.messages, session_keys.session]
        self.cache.delete_many(doomed)


def backend() -> _Backend:
    cache = caches[CACHE_ALIAS]
    if cache.__class__.__name__ == "RedisCache":
        return _RedisBackend(cache)
    return _DjangoCacheBackend(cache)


# --- writes (the chat turn) -------------------------------------------------------------------------------


def remember_turn(
    *,
    session: ChatSession,
    stored: Sequence[ChatMessage] = (),
    queued: Sequence[ChatMessage] = (),
    new_session: bool = False,
) -> None:
    """Keep a turn's messages — ``stored`` in MongoDB, then ``queued`` in the outbox — in one round trip.

    A cache that cannot be written never fails the turn: the outbox or MongoDB has the messages.
    The session's fields are kept from stored turns (and a session started queued); a queued turn
    in an existing session does not know them and only refreshes the entry.
    """
    messages = [*stored, *queued]
    if not messages:
        return
    fields: str | None = None
    if stored:
        fields = crypto.seal_text(
            json.dumps(_session_fields(session, stored_count=max(m.order for m in stored)))
        )
    elif new_session:
        fields = crypto.seal_text(json.dumps(_session_fields(session, stored_count=0)))
    encoded = [crypto.seal_text(json.dumps(_message_fields(m, stored=True))) for m in stored]
    encoded += [crypto.seal_text(json.dumps(_message_fields(m, stored=False))) for m in queued]
    try:
        backend().write(
            session.user_id, session.session_id, encoded, fields, messages[-1].created_at.timestamp()
        )
    except Exception:  # a cache outage must not fail a chat turn
        logger.warning(
            "recent-history cache not written",
            extra={"session_id": session.session_id, "user_id": session.user_id},
        )


def replace_session(*, session: ChatSession, stored: Sequence[ChatMessage]) -> None:
    """The session's active path changed (an edit, a regeneration, a switch of branch): its cached
    history becomes ``stored``, the newest messages of the new path. Never fails the caller."""
    if purge_session_cache(user_id=session.user_id, session_id=session.session_id):
        remember_turn(session=session, stored=stored)


def purge_session_cache(*, user_id: int, session_id: str) -> bool:
    """Forget one session's cached history at once (erasure, permanent or soft delete).

    False (logged) when the cache cannot be reached: its entries then expire with the window.
    """
    try:
        backend().purge_session(user_id, session_id)
    except Exception:  # the erasure in MongoDB stands; the caller decides
        logger.error("recent-history cache not purged", extra={"session_id": session_id, "user_id": user_id})
        return False
    return True


def purge_user_cache(*, user_id: int) -> bool:
    """Forget every cached session of a user at once (clear-all, account erasure); False as above."""
    try:
        backend().purge_user(user_id)
    except Exception:  # the erasure in MongoDB stands; the caller decides
        logger.error("recent-history cache not purged", extra={"user_id": user_id})
        return False
    return True


# --- reads (only while MongoDB is unreachable) ------------------------------------------------------------


@dataclass(frozen=True)
class RecentSession:
    """A session as the cache and the outbox know it: its newest messages, oldest first."""

    session: ChatSession
    messages: list[ChatMessage]
    as_of: datetime

    def newest(self, limit: int) -> tuple[list[ChatMessage], int | None]:
        """The newest ``limit`` messages and the older cursor (None when they start the session)."""
        items = self.messages[-limit:]
        first = items[0].order if items else None
        return items, first if first is not None and first > 1 else None


def _pending(user_id: int, session_id: str | None = None) -> list[OutboxEntry]:
    entries = OutboxEntry.objects.filter(user_id=user_id, status=OutboxEntry.Status.PENDING).exclude(
        kind=OutboxEntry.Kind.VOTE
    )
    if session_id is not None:
        entries = entries.filter(session_id=session_id)
    return list(entries.order_by("id"))


def _queued_fields(entry: OutboxEntry) -> dict[str, Any]:
    payload = crypto.open_payload(entry.payload)
    reply = entry.kind == OutboxEntry.Kind.REPLY
    return {
        "message_id": entry.object_id,
        "role": "assistant" if reply else payload["role"],
        "content": payload["content"],
        "order": None,
        "status": payload.get("status", "completed"),
        "model": payload.get("model", ""),
        "parent_message_id": payload.get("parent_message_id", ""),
        "source_documents": payload.get("source_documents", []),
        "agent_steps": payload.get("agent_steps", []),
        "error_info": payload.get("error_info", {}),
        "metadata": payload.get("metadata", {}),
        "created_at": payload["created_at"],
    }


def _orders(items: list[dict[str, Any]], stored_count: int | None) -> list[int | None]:
    """Order numbers of a session's newest messages: stored ones keep theirs, queued ones follow
    the message before them (as the outbox delivery appends them), leading ones precede the first
    known one, and with none known they follow the session's stored count."""
    orders: list[int | None] = [item["order"] for item in items]
    known = [index for index, order in enumerate(orders) if order is not None]
    if not known:
        if stored_count is None:
            return orders
        return [stored_count + 1 + index for index in range(len(items))]
    first = known[0]
    first_order = items[first]["order"]
    for index in range(first):
        orders[index] = first_order - (first - index)
    for index in range(first + 1, len(orders)):
        if orders[index] is None:
            previous = orders[index - 1]
            orders[index] = previous + 1 if previous is not None else None
    return orders


def recent_session(*, user_id: int, session_id: str) -> RecentSession | None:
    """The session's newest messages from the cache and the outbox, or None when neither knows it.

    Raises CacheUnavailable when the cache cannot be read.
    """
    try:
        at, fields_text, cached = backend().read_session(user_id, session_id)
    except Exception as exc:
        raise CacheUnavailable() from exc
    pending = _pending(user_id, session_id)
    started = next((entry for entry in pending if entry.kind == OutboxEntry.Kind.SESSION), None)
    if at is None and not pending:
        return None
    fields: dict[str, Any] | None = json.loads(crypto.open_text(fields_text)) if fields_text else None
    if fields is None and started is not None:
        fields = {
            "session_id": session_id,
            "created_at": started.payload["created_at"],
            "channel": started.payload["channel"],
            "stored_count": 0,
        }
    if fields is None:
        return None
    queued_ids = {entry.object_id for entry in pending}
    items = [
        item
        for item in (json.loads(crypto.open_text(text)) for text in cached)
        if item["message_id"] not in queued_ids
    ]
    items += [_queued_fields(entry) for entry in pending if entry.kind != OutboxEntry.Kind.SESSION]
    items = items[-settings.CHAT_RECENT_CACHE_MESSAGES :]
    orders = _orders(items, fields.get("stored_count"))
    moments = [at or 0.0] + [_when(item["created_at"]).timestamp() for item in items]
    as_of = datetime.fromtimestamp(max(moments), tz=store.now().tzinfo)
    session = _session_from(user_id, fields, as_of, orders[-1] or 0 if orders else 0)
    messages = [_message_from(session, item, order) for item, order in zip(items, orders, strict=True)]
    return RecentSession(session=session, messages=messages, as_of=as_of)


def recent_sessions(*, user_id: int, limit: int) -> tuple[list[ChatSession], datetime]:
    """The user's sessions active in the window, pinned first then newest first, and the time of the
    newest activity the cache saw. Raises CacheUnavailable when the cache cannot be read."""
    try:
        indexed = backend().read_index(user_id)
    except Exception as exc:
        raise CacheUnavailable() from exc
    sessions: dict[str, ChatSession] = {}
    for session_id, score, fields_text in indexed:
        if fields_text:
            moment = datetime.fromtimestamp(score, tz=store.now().tzinfo)
            fields = json.loads(crypto.open_text(fields_text))
            sessions[session_id] = _session_from(user_id, fields, moment, fields.get("stored_count", 0))
    for entry in _pending(user_id):
        moment = _when(entry.payload["created_at"])
        if entry.kind == OutboxEntry.Kind.SESSION and entry.session_id not in sessions:
            fields = {"session_id": entry.session_id, **entry.payload}
            sessions[entry.session_id] = _session_from(user_id, fields, moment, 0)
        elif entry.session_id in sessions and moment > sessions[entry.session_id].updated_at:
            sessions[entry.session_id].updated_at = moment
    live = [session for session in sessions.values() if not session.is_archived]
    live.sort(key=lambda session: (session.is_pinned, session.updated_at), reverse=True)
    newest = max((session.updated_at for session in live), default=store.now())
    return live[:limit], newest


def history(*, user_id: int, session_id: str, limit: int) -> list[ChatMessage]:
    """The last ``limit`` messages of a session for the responder, [] when unknown or unreadable."""
    try:
        recent = recent_session(user_id=user_id, session_id=session_id)
    except CacheUnavailable:
        logger.warning(
            "recent-history cache unreadable", extra={"session_id": session_id, "user_id": user_id}
        )
        return []
    if recent is None:
        return []
    return recent.messages[-limit:] if limit else []
