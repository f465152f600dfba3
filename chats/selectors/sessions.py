"""Reads of chat sessions: one by id, keyset pages of a user's sessions, changed sessions for backups."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import Int64, ObjectId
from bson.errors import InvalidId
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chats import store
from chats.exceptions import InvalidChatInput, SessionNotFound
from chats.models import ChatSession
from chats.selectors.query import aggregate, page_size
from medibot.mongodb.shard_guard import unscoped


def get_session(*, user_id: int, session_id: str, include_deleted: bool = False) -> ChatSession:
    """The caller's session, or SessionNotFound — also for someone else's (never a 403)."""
    if not isinstance(session_id, str) or not 1 <= len(session_id) <= 64:
        raise SessionNotFound()
    found = aggregate(ChatSession, {"user_id": Int64(user_id), "session_id": session_id}, limit=1)
    if not found or (found[0].deleted_at is not None and not include_deleted):
        raise SessionNotFound()
    return found[0]


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
        items += aggregate(
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
        top = high or store.now()
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
            for session in aggregate(
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
    return aggregate(
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


@unscoped("background: JSON backup of changed sessions")
def sessions_updated_between(*, since: datetime | None, until: datetime) -> list[ChatSession]:
    """Every user's sessions changed in a window (background jobs; index on ``updated_at``)."""
    window: dict[str, Any] = {"$lt": until, **({"$gte": since} if since else {})}
    return aggregate(ChatSession, {"updated_at": window}, {"deleted_at": None}, sort={"updated_at": 1})


def live_sessions_by_id(*, user_id: int, session_ids: list[str]) -> dict[str, ChatSession]:
    """The user's sessions among ``session_ids`` that are not deleted, by id: one index range on
    ``uniq_session_per_user`` (a page of shared conversations reads its sessions this way)."""
    if not session_ids:
        return {}
    found = aggregate(
        ChatSession,
        {"user_id": Int64(user_id), "session_id": {"$in": list(session_ids)}},
        {"deleted_at": None},
    )
    return {session.session_id: session for session in found}
