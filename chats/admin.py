"""Django admin for staff: chat documents on MongoDB (ObjectId keys) next to MySQL users.

Changelists never count a filtered collection for nothing (``show_full_result_count = False``,
estimated totals when unfiltered) and resolve owners' usernames for a whole page in one MySQL
query. Message text is read-only; every change goes through chats.services. Every page of a
user's chats shown, exported or changed here leaves an audit event (audit.admin_access).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html

from audit.admin_access import AuditedAdminMixin
from audit.models import AuditEvent
from chats import admin_users, exporters, search, services, store  # noqa: F401 - admin_users registers the users admin
from chats.models import (
    ChatMessage,
    ChatSession,
    DailyChatStats,
    MessageVote,
    MigrationRun,
    QuarantinedRow,
    TokenUsage,
)


class EstimatedCountPaginator(Paginator):
    """Unfiltered changelists use the collection's stored document count, not a full count."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if isinstance(queryset, QuerySet) and not queryset.query.where:
            return store.collection(queryset.model).estimated_document_count()
        return super().count


class OwnerChangeList(ChangeList):
    """Attaches ``owner_username`` to every row of the page with one ``in_bulk`` query."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        owners = get_user_model().objects.in_bulk({row.user_id for row in self.result_list})
        for row in self.result_list:
            user = owners.get(row.user_id)
            row.owner_username = user.get_username() if user else f"#{row.user_id}"


class ChatAdmin(AuditedAdminMixin, admin.ModelAdmin):
    show_full_result_count = False
    owner_lookups = frozenset({"user_id", "user_id__exact", "session__id__exact"})

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """Links from a user or a session filter by owner/session id without a sidebar filter."""
        return lookup in self.owner_lookups or super().lookup_allowed(lookup, value, request)

    paginator = EstimatedCountPaginator
    list_per_page = 50

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return OwnerChangeList

    @admin.display(description="owner")
    def owner(self, obj: Any) -> str:
        return getattr(obj, "owner_username", f"#{obj.user_id}")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def audit_owner_id(self, obj: Any) -> int | None:
        return int(obj.user_id)


class IdOrWordsSearch:
    """Admin search: the public id exactly (``public_id_field``), else every word through the
    portable search index (``search_terms``) — never a regex scan of the collection."""

    public_id_field = ""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if not search_term.strip():
            return queryset, False
        terms = search.query_terms(search_term)
        by_id = queryset.filter(**{self.public_id_field: search_term.strip()})
        if by_id.exists() or not terms:
            return by_id, False
        return queryset.filter(search_terms__contains=terms), False


@admin.register(ChatSession)
class ChatSessionAdmin(IdOrWordsSearch, ChatAdmin):
    public_id_field = "session_id"

    list_display = [
        "title_or_id",
        "owner",
        "message_count",
        "last_message_at",
        "channel",
        "session_type",
        "is_active",
        "is_archived",
        "is_pinned",
        "legal_hold",
        "deleted_at",
    ]
    list_filter = [
        "is_archived",
        "is_active",
        "is_pinned",
        "legal_hold",
        "session_type",
        "channel",
        "updated_at",
    ]
    search_fields = ["session_id"]
    fields = [
        "session_id",
        "user_id",
        "title",
        "session_type",
        "channel",
        "tags",
        "metadata",
        "is_active",
        "is_archived",
        "is_pinned",
        "legal_hold",
        "message_count",
        "last_message_at",
        "created_at",
        "updated_at",
        "deleted_at",
        "schema_version",
        "messages_link",
    ]
    readonly_fields = [
        "session_id",
        "user_id",
        "message_count",
        "last_message_at",
        "created_at",
        "updated_at",
        "deleted_at",
        "schema_version",
        "legal_hold",
        "messages_link",
    ]
    actions = [
        "export_json",
        "export_csv",
        "archive",
        "soft_delete",
        "restore",
        "set_legal_hold",
        "clear_legal_hold",
    ]

    def audit_object_id(self, obj: ChatSession) -> str:
        return obj.session_id

    @admin.display(description="title")
    def title_or_id(self, obj: ChatSession) -> str:
        return obj.title or obj.session_id

    @admin.display(description="messages")
    def messages_link(self, obj: ChatSession) -> str:
        return format_html(
            '<a href="{}?session__id__exact={}">{} messages</a>',
            reverse("admin:chats_chatmessage_changelist"),
            obj.pk,
            obj.message_count,
        )

    def save_model(self, request: HttpRequest, obj: ChatSession, form: Any, change: bool) -> None:
        changes = {
            name: getattr(obj, name)
            for name in form.changed_data
            if name in services.UPDATABLE_SESSION_FIELDS
        }
        if changes:
            services.update_session(session=obj, **changes)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # soft delete / purge go through the actions and the retention job

    @admin.action(description="Export selected sessions as JSON")
    def export_json(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> StreamingHttpResponse:
        sessions = self._exported(request, queryset)

        def lines() -> Any:
            for session in sessions:
                yield "".join(exporters.render_session(session, "json")) + "\n"

        response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="medibot-sessions.ndjson"'
        return response

    @admin.action(description="Export selected sessions as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> StreamingHttpResponse:
        sessions = self._exported(request, queryset)

        def rows() -> Any:
            for index, session in enumerate(sessions):
                chunks = list(exporters.render_session(session, "csv"))
                if index:
                    chunks[0] = chunks[0].split("\n", 1)[1] if "\n" in chunks[0] else ""
                yield from chunks

        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="medibot-sessions.csv"'
        return response

    def _exported(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> list[ChatSession]:
        sessions = list(queryset[:500])
        self.record_admin_accesses(request, sessions, AuditEvent.Action.EXPORT)
        return sessions

    def _apply(
        self,
        request: HttpRequest,
        queryset: QuerySet[ChatSession],
        label: str,
        change: Any,
        action: str = AuditEvent.Action.CHANGE,
    ) -> None:
        changed = []
        for session in queryset[:1000]:
            change(session)
            changed.append(session)
        self.record_admin_accesses(request, changed, action)
        self.message_user(request, f"{label}: {len(changed)} session(s).", messages.SUCCESS)

    @admin.action(description="Archive selected sessions")
    def archive(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(request, queryset, "Archived", lambda s: services.set_archived(session=s, archived=True))

    @admin.action(description="Soft-delete selected sessions")
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request,
            queryset,
            "Soft-deleted",
            lambda s: services.soft_delete_session(session=s),
            AuditEvent.Action.DELETE,
        )

    @admin.action(description="Restore selected sessions")
    def restore(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(request, queryset, "Restored", lambda s: services.restore_session(session=s))

    @admin.action(description="Set legal hold (exempt from retention)")
    def set_legal_hold(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request, queryset, "Legal hold set", lambda s: services.set_legal_hold(session=s, hold=True)
        )

    @admin.action(description="Clear legal hold")
    def clear_legal_hold(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request, queryset, "Legal hold cleared", lambda s: services.set_legal_hold(session=s, hold=False)
        )


class ReadOnlyChatAdmin(ChatAdmin):
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(IdOrWordsSearch, ReadOnlyChatAdmin):
    public_id_field = "message_id"

    list_display = ["message_id", "owner", "role", "order", "status", "model", "created_at", "excerpt"]
    list_filter = ["role", "status"]
    search_fields = ["message_id"]
    readonly_fields = [
        "message_id",
        "session",
        "user_id",
        "role",
        "order",
        "status",
        "model",
        "content",
        "source_documents",
        "agent_steps",
        "attachments",
        "error_info",
        "metadata",
        "parent_message_id",
        "content_hash",
        "created_at",
    ]
    exclude = ["search_terms"]

    def audit_object_id(self, obj: ChatMessage) -> str:
        return obj.message_id

    @admin.display(description="content")
    def excerpt(self, obj: ChatMessage) -> str:
        return obj.content[:80] + ("…" if len(obj.content) > 80 else "")


@admin.register(TokenUsage)
class TokenUsageAdmin(ReadOnlyChatAdmin):
    list_display = [
        "created_at",
        "owner",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost",
    ]
    list_filter = ["model"]
    readonly_fields = [
        "session",
        "message",
        "user_id",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "cost",
        "created_at",
    ]


@admin.register(MessageVote)
class MessageVoteAdmin(ReadOnlyChatAdmin):
    list_display = ["created_at", "owner", "vote_type", "reason"]
    list_filter = ["vote_type"]
    readonly_fields = ["message", "session", "user_id", "vote_type", "reason", "created_at", "updated_at"]


@admin.register(DailyChatStats)
class DailyChatStatsAdmin(admin.ModelAdmin):
    list_display = [
        "date",
        "total_sessions",
        "new_sessions",
        "total_messages",
        "active_users",
        "total_tokens",
        "total_cost",
        "average_session_length",
    ]
    readonly_fields = [field.name for field in DailyChatStats._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="tokens by model")
    def tokens(self, obj: DailyChatStats) -> str:
        return json.dumps(obj.tokens_by_model)


class ReadOnlyImportAdmin(admin.ModelAdmin):
    """What ``migrate_chats`` wrote: browsable, never edited here (the command owns it)."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # use ``migrate_chats --rollback RUN_ID``: it knows what a run inserted


@admin.register(MigrationRun)
class MigrationRunAdmin(ReadOnlyImportAdmin):
    list_display = ["id", "source", "state", "started_at", "finished_at", "read", "inserted", "quarantined"]
    list_filter = ["state", "source"]
    search_fields = ["id"]
    readonly_fields = [field.name for field in MigrationRun._meta.fields]

    @admin.display(description="read")
    def read(self, obj: MigrationRun) -> int:
        return int(obj.counts.get("read", 0))

    @admin.display(description="inserted")
    def inserted(self, obj: MigrationRun) -> int:
        return int(obj.counts.get("inserted", 0))

    @admin.display(description="quarantined")
    def quarantined(self, obj: MigrationRun) -> int:
        return int(obj.counts.get("quarantined", 0))


@admin.register(QuarantinedRow)
class QuarantinedRowAdmin(AuditedAdminMixin, ReadOnlyImportAdmin):
    """Quarantined legacy rows can hold message text: the list shows keys and reasons only, and
    opening one is audited like any other access to someone's chats."""

    list_display = ["unit", "reason", "source_ref", "run_id", "last_seen_at"]
    list_filter = ["reason"]
    search_fields = ["key", "run_id"]
    readonly_fields = [field.name for field in QuarantinedRow._meta.fields]

    def audit_object_id(self, obj: QuarantinedRow) -> str:
        """The row's id ("source|key") when it fits the audit trail's 64 characters, else its SHA-256."""
        return obj.pk if len(obj.pk) <= 64 else hashlib.sha256(obj.pk.encode()).hexdigest()

    def audit_owner_id(self, obj: QuarantinedRow) -> int | None:
        owner = obj.row.get("user_id") if isinstance(obj.row, dict) else None
        try:
            return int(owner) if owner is not None else None
        except (TypeError, ValueError):
            return None
