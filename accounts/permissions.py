"""Staff powers are explicit Django permissions, granted through groups — never ``is_staff`` alone.

The permissions are declared on ``accounts.User`` (``Meta.permissions``); the two groups are created
by a data migration (``accounts/migrations/0004_staff_groups.py``) and by ``ensure_staff_groups()``.
The API checks them with ``StaffPermission``, the admin with ``user.has_perm`` — the same rows.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

READ_PATIENT_CHATS = "read_patient_chats"
VIEW_USER_DIRECTORY = "view_user_directory"
READ_CHAT_STATISTICS = "read_chat_statistics"
RUN_CHAT_CLEANUP = "run_chat_cleanup"
RUN_CHAT_SYNC = "run_chat_sync"
MANAGE_LEGAL_HOLD = "manage_legal_hold"

PERMISSIONS: tuple[tuple[str, str], ...] = (
    (READ_PATIENT_CHATS, "Can read any patient's chat messages and sessions (staff API)"),
    (VIEW_USER_DIRECTORY, "Can list users with their contact details and chat counts"),
    (READ_CHAT_STATISTICS, "Can read chat statistics over all users"),
    (RUN_CHAT_CLEANUP, "Can run the chat retention cleanup"),
    (RUN_CHAT_SYNC, "Can start and watch imports of the chat backup directory"),
    (MANAGE_LEGAL_HOLD, "Can place and lift legal holds on chat sessions"),
)

SUPPORT = "Support"
PRIVACY_OFFICER = "Privacy officer"
GROUP_PERMISSIONS: dict[str, list[str]] = {
    SUPPORT: [VIEW_USER_DIRECTORY, READ_CHAT_STATISTICS, RUN_CHAT_SYNC],
    PRIVACY_OFFICER: [
        READ_PATIENT_CHATS,
        VIEW_USER_DIRECTORY,
        READ_CHAT_STATISTICS,
        RUN_CHAT_CLEANUP,
        MANAGE_LEGAL_HOLD,
    ],
}


# Django model permissions of the admin pages each group's staff permissions are about (strings:
# accounts never imports the apps that own those models).
GROUP_ADMIN_PAGES: dict[str, list[str]] = {
    SUPPORT: [],
    PRIVACY_OFFICER: [
        "chats.view_chatsession",
        "chats.change_chatsession",
        "chats.view_chatmessage",
        "audit.view_auditevent",
    ],
}


def has_staff_permission(user: Any, codename: str) -> bool:
    """An active staff account holding ``accounts.<codename>`` (superusers hold every permission)."""
    return bool(
        user is not None
        and user.is_authenticated
        and user.is_active
        and user.is_staff
        and user.has_perm(f"accounts.{codename}")
    )


def StaffPermission(codename: str) -> type[BasePermission]:
    """A DRF permission class requiring ``accounts.<codename>`` of an active staff account."""

    class _StaffPermission(BasePermission):
        message = "You do not have permission to perform this action."

        def has_permission(self, request: Request, view: Any) -> bool:
            return has_staff_permission(request.user, codename)

    _StaffPermission.__name__ = f"StaffPermission_{codename}"
    return _StaffPermission
