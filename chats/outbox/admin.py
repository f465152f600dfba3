"""The outbox in the admin: depth, failures and a retry action. Payloads stay hidden (PHI).

An entry is a patient's accepted write: viewing or deleting one is audited like any chat access.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.admin_access import AuditedAdminMixin
from chats.outbox import services
from chats.outbox.models import OutboxEntry


@admin.register(OutboxEntry)
class OutboxEntryAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "user_id",
        "session_id",
        "object_id",
        "attempts",
        "last_error",
        "created_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["object_id", "session_id"]
    exclude = ["payload"]
    readonly_fields = [
        "kind",
        "status",
        "user_id",
        "session_id",
        "object_id",
        "attempts",
        "last_error",
        "created_at",
        "delivered_at",
    ]
    actions = ["retry"]

    def audit_owner_id(self, obj: OutboxEntry) -> int | None:
        return obj.user_id

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Retry selected failed entries")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxEntry]) -> None:
        count = services.retry_failed(entry_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Re-queued {count} entr{'y' if count == 1 else 'ies'}.", messages.SUCCESS)
