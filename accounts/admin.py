"""Users in the admin. The chat-count column is added by ``chats.admin_users`` (chats knows
about users; accounts knows nothing of chats). A user's page links to their conversations and EHR
profile; the search box also takes a user id or an exact phone number."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from rest_framework.authtoken.models import TokenProxy

from accounts import deletion
from accounts import selectors as people
from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "phone_number", "is_staff", "date_joined"]
    list_filter = ["role", "is_staff", "is_active"]
    search_fields = ["username", "email", "phone_number"]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        ("Medibot", {"fields": ("role", "phone_number", "conversations")}),
    )
    readonly_fields = ["conversations"]
    show_full_result_count = False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        """Django's search, plus the person a user id or exact phone number names."""
        found, duplicates = super().get_search_results(request, queryset, search_term)
        named = people.find_people(term=search_term)
        if named:
            found = found | queryset.filter(pk__in=named)
        return found, duplicates

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        """Through ``accounts.deletion``: the apps erase the user's data first (legal holds kept)."""
        deletion.delete_account(user=obj, requested_by_id=request.user.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        for user in queryset:
            deletion.delete_account(user=user, requested_by_id=request.user.pk)

    @admin.display(description="conversations")
    def conversations(self, user: User) -> str:
        """Links, not counts: the user's page shows no chat data (nothing to audit until followed)."""
        if user.pk is None:
            return "-"
        return format_html(
            '<a href="{}?user_id={}">Their conversations</a>'
            ' · <a href="{}?user__id__exact={}">EHR profile</a>'
            ' · <a href="{}?owner={}">Who accessed their data</a>',
            reverse("admin:chats_chatsession_changelist"),
            user.pk,
            reverse("admin:ehr_patientprofile_changelist"),
            user.pk,
            reverse("admin:audit_auditevent_changelist"),
            user.pk,
        )


# DRF's token admin lists every key in plain text; API tokens are ``accounts.ApiToken`` digests
# now and are never shown in the admin (revoke them by changing the user's password).
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
