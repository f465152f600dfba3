"""The users admin with each user's chat counts (one MongoDB aggregation per page).

Chat counts are derived from the users' chats: showing them to staff is audited per listed user.
Registered in place of ``accounts.admin.UserAdmin`` when ``chats.admin`` is loaded.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from accounts.admin import UserAdmin
from accounts.models import User
from audit.admin_access import record_changelist_reads
from audit.models import CHAT_COUNTS, AuditEvent
from audit.services import Access
from chats import selectors


class UserChangeList(ChangeList):
    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        counts = selectors.chat_counts_by_user(user_ids=[user.pk for user in self.result_list])
        for user in self.result_list:
            user.chat_counts = counts.get(user.pk, {"session_count": 0, "message_count": 0})


class UserWithChatsAdmin(UserAdmin):
    list_display = ["username", "email", "role", "phone_number", "is_staff", "chats", "date_joined"]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return UserChangeList

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        record_changelist_reads(
            request, response, lambda user: Access(AuditEvent.Action.READ, CHAT_COUNTS, str(user.pk), user.pk)
        )
        return response

    @admin.display(description="chats")
    def chats(self, user: User) -> str:
        counts = getattr(user, "chat_counts", {"session_count": 0, "message_count": 0})
        return format_html(
            '<a href="{}?user_id={}">{} sessions, {} messages</a>',
            reverse("admin:chats_chatsession_changelist"),
            user.pk,
            counts["session_count"],
            counts["message_count"],
        )


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, UserWithChatsAdmin)
