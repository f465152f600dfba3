"""Staff reads of other people's chats, each *with* its audit events (as ``ehr/access.py`` is for EHR).

Every function reads through the selectors and records what staff was shown, one event per user,
session or message, before it returns; the staff views only translate HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from accounts import selectors as accounts_selectors
from audit.models import CHAT_COUNTS, CHAT_MESSAGE, CHAT_RETENTION, CHAT_SESSION, CHAT_STATISTICS, AuditEvent
from audit.services import Access, record_accesses
from chats import selectors, services
from chats.exceptions import ChatError
from chats.selectors.sessions import SessionPage

NO_CHATS = {"session_count": 0, "message_count": 0}


class UserNotFound(ChatError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("User not found.")


@dataclass(frozen=True)
class UserPage:
    rows: list[dict[str, Any]]
    next_cursor: int | None


def users_with_chat_counts(*, actor: Any, cursor: int, size: int, request: HttpRequest | None) -> UserPage:
    """A page of users with their chat counts (one aggregation); audited per listed user."""
    users = accounts_selectors.users_page(after=cursor, size=size)
    page = users[:size]
    counts = selectors.chat_counts_by_user(user_ids=[user.pk for user in page])
    rows = [
        {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "role": getattr(user, "role", ""),
            "phone_number": getattr(user, "phone_number", None),
            "date_joined": user.date_joined,
            **counts.get(user.pk, NO_CHATS),
        }
        for user in page
    ]
    record_accesses(
        actor=actor,
        accesses=[Access(AuditEvent.Action.READ, CHAT_COUNTS, str(user.pk), user.pk) for user in page],
        request=request,
    )
    return UserPage(rows=rows, next_cursor=page[-1].pk if len(users) > size else None)


def sessions_of_user(
    *,
    actor: Any,
    user_id: int,
    archived: bool | None,
    cursor: str | None,
    size: int,
    request: HttpRequest | None,
) -> SessionPage:
    """One user's sessions; audited per shown session (or the empty list itself)."""
    if not get_user_model().objects.filter(pk=user_id).exists():
        raise UserNotFound()
    page = selectors.list_sessions(user_id=user_id, archived=archived, cursor=cursor, limit=size)
    shown = [Access(AuditEvent.Action.READ, CHAT_SESSION, s.session_id, user_id) for s in page.items]
    record_accesses(
        actor=actor,
        accesses=shown or [Access(AuditEvent.Action.READ, CHAT_SESSION, "", user_id)],
        request=request,
    )
    return page


def store_statistics(*, actor: Any, days: int, request: HttpRequest | None) -> dict[str, Any]:
    """Store-wide chat statistics (no one's content); audited as one statistics read."""
    statistics = selectors.global_statistics(days=days)
    record_accesses(
        actor=actor,
        accesses=[Access(AuditEvent.Action.READ, CHAT_STATISTICS, "", owner_id=None)],
        request=request,
    )
    return statistics


def user_totals(*, actor: Any, request: HttpRequest | None) -> dict[str, Any]:
    """Users, users with chats, sessions, messages by role; audited as one statistics read."""
    stats = store_statistics(actor=actor, days=0, request=request)
    return {
        "total_users": get_user_model().objects.count(),
        "users_with_chats": stats["total_users"],
        "total_sessions": stats["total_sessions"],
        "total_messages": stats["total_messages"],
        "messages_by_role": stats["messages_by_role"],
    }


def latest_chats(*, actor: Any, limit: int, request: HttpRequest | None) -> list[dict[str, Any]]:
    """The newest messages of every user with their usernames (one look-up); audited per message."""
    rows = selectors.latest_chats_all_users(limit=limit)
    names = get_user_model().objects.in_bulk({row["user_id"] for row in rows})
    for row in rows:
        user = names.get(row["user_id"])
        row["username"] = user.get_username() if user else None
    record_accesses(
        actor=actor,
        accesses=[
            Access(AuditEvent.Action.READ, CHAT_MESSAGE, row["message_id"], row["user_id"]) for row in rows
        ],
        request=request,
    )
    return rows


def run_cleanup(
    *, actor: Any, days_old: int | None, dry_run: bool, request: HttpRequest | None
) -> services.CleanupReport:
    """The retention job run by staff from the API; audited (a read when it is a dry run)."""
    report = services.cleanup_chats(days_old=days_old, dry_run=dry_run)
    action = AuditEvent.Action.READ if dry_run else AuditEvent.Action.DELETE
    record_accesses(actor=actor, accesses=[Access(action, CHAT_RETENTION, "", None)], request=request)
    return report
