"""Users in the admin. The chat-count column is added by ``chats.admin_users`` (chats knows
about users; accounts knows nothing of chats)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from rest_framework.authtoken.models import TokenProxy

from accounts.models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "role", "phone_number", "is_staff", "date_joined"]
    list_filter = ["role", "is_staff", "is_active"]
    search_fields = ["username", "email", "phone_number"]
    fieldsets = (*DjangoUserAdmin.fieldsets, ("Medibot", {"fields": ("role", "phone_number")}))  # type: ignore[misc]
    show_full_result_count = False


# DRF's token admin lists every key in plain text; API tokens are ``accounts.ApiToken`` digests
# now and are never shown in the admin (revoke them by changing the user's password).
if admin.site.is_registered(TokenProxy):
    admin.site.unregister(TokenProxy)
