"""The audit trail in the admin: read-only for everyone, superusers included.

Staff find events by actor or owner (a username, email, phone or user id in the filter boxes or the
search box: one look-up on ``accounts_user``, then the ``audit_actor_idx``/``audit_owner_idx``
indexes), by action, outcome, object type and date, with a date hierarchy.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts import selectors as people
from accounts.admin_people import person_filter
from audit import selectors
from audit.models import AuditEvent, ChainHead
from medibot.read_only_admin import ReadOnlyAdmin


class AuditEventChangeList(ChangeList):
    """Names the actors and owners of a page in one query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        events = list(self.result_list)
        users = selectors.users_by_id(user_ids=[e.actor_id for e in events] + [e.owner_id for e in events])
        for event in events:
            event.actor_name = _person(users, event.actor_id, nobody="(system)")
            event.owner_name = _person(users, event.owner_id, nobody="-")


def _person(users: dict[int, Any], user_id: int | None, *, nobody: str) -> str:
    if user_id is None:
        return nobody
    user = users.get(user_id)
    return f"{user.get_username()} (#{user_id})" if user else f"#{user_id}"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "sequence",
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "detail",
        "owner",
        "outcome",
    ]
    list_filter = [
        person_filter(title="actor", parameter="actor", field="actor_id"),
        person_filter(title="owner", parameter="owner", field="owner_id"),
        "action",
        "outcome",
        "object_type",
        "created_at",
    ]
    date_hierarchy = "created_at"
    search_fields = ["=object_id"]
    search_help_text = "A username, email, phone or user id (as actor or owner), or an object id."
    ordering = ["-sequence"]
    show_full_result_count = False
    readonly_fields = [field.name for field in AuditEvent._meta.fields]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return AuditEventChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """Events by or about the people the term names, else those about the object id."""
        named = people.find_people(term=search_term)
        if named:
            return queryset.filter(Q(actor_id__in=named) | Q(owner_id__in=named)), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="actor")
    def actor(self, event: AuditEvent) -> str:
        return str(getattr(event, "actor_name", event.actor_id))

    @admin.display(description="owner")
    def owner(self, event: AuditEvent) -> str:
        return str(getattr(event, "owner_name", event.owner_id))


@admin.register(ChainHead)
class ChainHeadAdmin(ReadOnlyAdmin):
    list_display = ["id", "sequence", "hash"]
