"""Django admin for staff: chat documents on MongoDB (ObjectId keys) next to MySQL users.

Changelists never count a filtered collection for nothing (``show_full_result_count = False``,
estimated totals when unfiltered) and resolve owners' usernames for a whole page in one MySQL
query. Message text is read-only; every change goes through chats.services. Every page of a
user's chats shown, exported or changed here leaves one audit event per owner (audit.admin_access).

A session's page is the conversation as a thread: a bounded page of messages (newest first, "older"
pages by order number), readable only with the ``accounts.read_patient_chats`` permission (the one
the staff API checks); the page view is one audit event naming the messages shown. The search box
takes a session/message id, a person (username, email, phone or user id), a person followed by
words (that person's chats searched as the API searches them: prefixes, typos, phrases) or words
alone (exact terms across every user).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from accounts import selectors as people
from accounts.admin_people import person_filter
from accounts.permissions import MANAGE_LEGAL_HOLD, READ_PATIENT_CHATS, has_staff_permission
from audit import services as audit
from audit.admin_access import AuditedAdminMixin
from audit.models import AuditEvent
from chats import (  # noqa: F401 - admin_users registers the users admin
    admin_users,
    branches,
    exporters,
    selectors,
    services,
    store,
)
from chats.exceptions import InvalidChatInput
from chats.models import (
    ChatMessage,
    ChatSession,
    DailyChatStats,
    MessageVote,
    MigrationRun,
    QuarantinedRow,
    TokenUsage,
)

THREAD_PAGE_SIZE = 50
SEARCH_LIMIT = 100  # newest matches a word search brings into a changelist


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


def owner_links(user_id: int, user: Any | None) -> str:
    """The owner's account, all their conversations and their EHR profile, as links."""
    name = user.get_username() if user is not None else f"user #{user_id} (no account)"
    account = (
        format_html('<a href="{}">{}</a>', reverse("admin:accounts_user_change", args=[user_id]), name)
        if user is not None
        else name
    )
    return format_html(
        '{} · <a href="{}?user_id={}">all conversations</a>'
        ' · <a href="{}?user__id__exact={}">EHR profile</a>',
        account,
        reverse("admin:chats_chatsession_changelist"),
        user_id,
        reverse("admin:ehr_patientprofile_changelist"),
        user_id,
    )


OwnerFilter = person_filter(title="owner", parameter="owner", field="user_id")


class ChatAdmin(AuditedAdminMixin, admin.ModelAdmin):
    show_full_result_count = False
    audit_list_per_owner = True
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

    @admin.display(description="owner")
    def owner_link(self, obj: Any) -> str:
        return owner_links(int(obj.user_id), get_user_model().objects.filter(pk=obj.user_id).first())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def audit_owner_id(self, obj: Any) -> int | None:
        return int(obj.user_id)


class IdPeopleOrWordsSearch:
    """Admin search: the public id exactly (``public_id_field``); else a person (username, email,
    phone or user id: one MySQL look-up, then ``user_id`` on the chat index); else every word
    through the API's search (``selectors.search_chats`` across users via its ``unscoped`` escape
    hatch: exact terms in every language, since prefix and typo tolerance come from each user's
    own vocabulary) — never a regex scan of the collection."""

    public_id_field = ""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        by_id = queryset.filter(**{self.public_id_field: term})
        if by_id.exists():
            return by_id, False
        owners = people.find_people(term=term)
        if owners:
            return queryset.filter(user_id__in=owners), False
        person, _, words = term.partition(" ")
        owners = people.find_people(term=person) if words.strip() else []
        try:
            results = [
                selectors.search_chats(query=words, user_id=owner, limit=SEARCH_LIMIT) for owner in owners[:5]
            ] or [selectors.search_chats(query=term, user_id=None, limit=SEARCH_LIMIT)]
        except InvalidChatInput:
            return queryset.none(), False
        return queryset.filter(pk__in=[pk for result in results for pk in self.matching_pks(result)]), False

    def matching_pks(self, result: selectors.SearchResult) -> list[Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class ThreadEntry:
    message: ChatMessage
    vote: str
    usage: TokenUsage | None
    sources: list[str]
    delivery: str = ""


@dataclass(frozen=True)
class Thread:
    """One page of a conversation, oldest first on the page; cursors are order numbers."""

    entries: list[ThreadEntry]
    total: int
    older: int | None
    newer: int | None

    @property
    def shown(self) -> str:
        if not self.entries:
            return f"no messages of {self.total}"
        return f"messages {self.entries[0].message.order}-{self.entries[-1].message.order} of {self.total}"


def _source_label(source: Any) -> str:
    if isinstance(source, dict):
        parts = [str(source[key]) for key in ("title", "source", "url", "page") if source.get(key)]
        return " · ".join(parts) or json.dumps(source, ensure_ascii=False)[:300]
    return str(source)[:300]


def _delivery_label(message: ChatMessage) -> str:
    """A reply's delivery over another channel (WhatsApp), as the channel last reported it."""
    delivery = (message.metadata or {}).get("delivery")
    if not isinstance(delivery, dict) or not delivery.get("status"):
        return ""
    label = f"{delivery.get('channel') or 'channel'}: {delivery['status']}"
    error = delivery.get("error")
    if isinstance(error, dict) and error.get("code"):
        label += f" (error {error['code']})"
    return label


def _cursor(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name, "")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def conversation_page(*, session: ChatSession, before: int | None, after: int | None) -> Thread:
    """A bounded page of the conversation with the owner's votes and each reply's usage: three
    indexed reads whatever the session's length (messages by order range, votes, usage)."""
    page = selectors.message_page(
        session=session, limit=THREAD_PAGE_SIZE, before=before, after=None if before else after
    )
    votes = selectors.votes_for_messages(user_id=session.user_id, messages=page.items)
    usage = (
        {
            row.message_id: row
            for row in TokenUsage.objects.filter(
                user_id=session.user_id, message_id__in=[message.pk for message in page.items]
            )
        }
        if page.items
        else {}
    )
    entries = [
        ThreadEntry(
            message=message,
            vote=votes.get(message.pk, ""),
            usage=usage.get(message.pk),
            sources=[_source_label(source) for source in message.source_documents or []],
            delivery=_delivery_label(message),
        )
        for message in page.items
    ]
    return Thread(
        entries=entries,
        total=branches.path_length(session),  # the shown (active) path, which the orders number
        older=page.older_cursor,
        newer=page.newer_cursor,
    )


class ChatSessionForm(forms.ModelForm):
    """The session form runs the API's own validators on what changed: their message is a form error."""

    class Meta:
        model = ChatSession
        fields = sorted(services.UPDATABLE_SESSION_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean() or {}
        validators: dict[str, Callable[[Any], Any]] = {
            "title": lambda value: services.validate_text(
                value, what="title", max_chars=settings.CHAT_TITLE_MAX_CHARS
            ),
            "tags": services.validate_tags,
            "metadata": services.validate_metadata,
        }
        for name, validate in validators.items():
            if name in self.changed_data and name in cleaned:
                try:
                    cleaned[name] = validate(cleaned[name])
                except InvalidChatInput as exc:
                    self.add_error(name, exc.message)
        return cleaned


@admin.register(ChatSession)
class ChatSessionAdmin(IdPeopleOrWordsSearch, ChatAdmin):
    public_id_field = "session_id"
    form = ChatSessionForm
    change_form_template = "admin/chats/chatsession/change_form.html"
    search_help_text = "A session id, a person (username, email, phone or id), words, or a person then words."

    def matching_pks(self, result: selectors.SearchResult) -> list[Any]:
        return list({session.pk for session in result.sessions} | {hit.session.pk for hit in result.messages})

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
        OwnerFilter,
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
        "owner_link",
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
        "owner_link",
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

    def has_read_conversation_permission(self, request: HttpRequest) -> bool:
        return has_staff_permission(request.user, READ_PATIENT_CHATS)

    def audit_page_view(self, obj: ChatSession, context: dict[str, Any]) -> audit.Access:
        thread = context.get("thread")
        return self.audit_access(obj, AuditEvent.Action.READ, detail=thread.shown if thread else "")

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        """A conversation is opened only with ``accounts.read_patient_chats`` (as in the staff API);
        a refusal is audited too."""
        if object_id is not None:
            self._require_read_conversation(request, object_id)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> Any:
        """The history page is headed by the session's title (the patient's first message): it is a
        conversation read like the session page, so it needs the same permission (and is audited)."""
        self._require_read_conversation(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def _require_read_conversation(self, request: HttpRequest, object_id: str) -> None:
        if has_staff_permission(request.user, READ_PATIENT_CHATS):
            return
        session = self.get_object(request, object_id)
        if session is not None:
            audit.record_accesses(
                actor=request.user,
                accesses=[
                    audit.Access(
                        AuditEvent.Action.READ,
                        session._meta.label_lower,
                        session.session_id,
                        int(session.user_id),
                        outcome=AuditEvent.Outcome.DENIED,
                    )
                ],
                request=request,
            )
        raise PermissionDenied

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: ChatSession | None = None,
    ) -> Any:
        if obj is not None and change:
            context["thread"] = conversation_page(
                session=obj, before=_cursor(request, "before"), after=_cursor(request, "after")
            )
            available = self.get_actions(request)
            hold = (
                ("clear_legal_hold", "Legal hold off") if obj.legal_hold else ("set_legal_hold", "Legal hold")
            )
            offered = [("archive", "Archive"), hold, ("export_json", "Export JSON")]
            context["session_actions"] = [(name, label) for name, label in offered if name in available]
        return super().render_change_form(request, context, add, change, form_url, obj)

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
            language = people.search_language_of(user_id=obj.user_id)  # the owner's, not the staff's
            services.update_session(session=obj, language=language, **changes)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # soft delete / purge go through the actions and the retention job

    @admin.action(description="Export selected sessions as JSON", permissions=["read_conversation"])
    def export_json(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> StreamingHttpResponse:
        sessions = self._exported(request, queryset)

        def lines() -> Any:
            for session in sessions:
                yield "".join(exporters.render_session(session, "json")) + "\n"

        response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
        response["Content-Disposition"] = 'attachment; filename="medibot-sessions.ndjson"'
        return response

    @admin.action(description="Export selected sessions as CSV", permissions=["read_conversation"])
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
        detail: str = "",
    ) -> None:
        changed = []
        for session in queryset[:1000]:
            change(session)
            changed.append(session)
        audit.record_accesses(
            actor=request.user,
            accesses=[self.audit_access(session, action, detail=detail) for session in changed],
            request=request,
        )
        self.message_user(request, f"{label}: {len(changed)} session(s).", messages.SUCCESS)

    @admin.action(description="Archive selected sessions", permissions=["change"])
    def archive(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(request, queryset, "Archived", lambda s: services.set_archived(session=s, archived=True))

    @admin.action(description="Soft-delete selected sessions", permissions=["change"])
    def soft_delete(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request,
            queryset,
            "Soft-deleted",
            lambda s: services.soft_delete_session(session=s),
            AuditEvent.Action.DELETE,
        )

    @admin.action(description="Restore selected sessions", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(request, queryset, "Restored", lambda s: services.restore_session(session=s))

    def has_manage_legal_hold_permission(self, request: HttpRequest) -> bool:
        """The API's own check (``accounts.manage_legal_hold``); ``change_chatsession`` is not enough.
        Without it the hold actions are not offered, and a forged POST is refused as an unknown action."""
        return has_staff_permission(request.user, MANAGE_LEGAL_HOLD)

    @admin.action(description="Set legal hold (exempt from retention)", permissions=["manage_legal_hold"])
    def set_legal_hold(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request,
            queryset,
            "Legal hold set",
            lambda s: services.set_legal_hold(session=s, hold=True),
            detail="legal hold placed",
        )

    @admin.action(description="Clear legal hold", permissions=["manage_legal_hold"])
    def clear_legal_hold(self, request: HttpRequest, queryset: QuerySet[ChatSession]) -> None:
        self._apply(
            request,
            queryset,
            "Legal hold cleared",
            lambda s: services.set_legal_hold(session=s, hold=False),
            detail="legal hold lifted",
        )


class ReadOnlyChatAdmin(ChatAdmin):
    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        """The read-only fields as listed (the owner as links rather than a bare ``user_id``)."""
        return list(self.readonly_fields) or super().get_fields(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChatMessage)
class ChatMessageAdmin(IdPeopleOrWordsSearch, ReadOnlyChatAdmin):
    public_id_field = "message_id"
    search_help_text = "A message id, a person (username, email, phone or id), words, or a person then words."

    def matching_pks(self, result: selectors.SearchResult) -> list[Any]:
        return [hit.message.pk for hit in result.messages]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Message text is conversation content: it needs ``accounts.read_patient_chats`` too."""
        return super().has_view_permission(request, obj) and has_staff_permission(
            request.user, READ_PATIENT_CHATS
        )

    list_display = ["message_id", "owner", "role", "order", "status", "model", "created_at", "excerpt"]
    list_filter = [OwnerFilter, "role", "status"]
    search_fields = ["message_id"]
    readonly_fields = [
        "message_id",
        "in_conversation",
        "owner_link",
        "role",
        "order",
        "branch",
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

    @admin.display(description="conversation")
    def in_conversation(self, obj: ChatMessage) -> str:
        """The message in its thread: the session page whose last message this is."""
        return format_html(
            '<a href="{}?before={}#message-{}">{}</a>',
            reverse("admin:chats_chatsession_change", args=[obj.session_id]),
            obj.order + 1,
            obj.order,
            f"message {obj.order} in its conversation",
        )

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
        "owner_link",
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
    readonly_fields = ["message", "session", "owner_link", "vote_type", "reason", "created_at", "updated_at"]


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


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's admin with the schedule in words ("At 03:00 AM UTC"), not a cron string."""

    list_display = ("name", "enabled", "schedule", "task", "last_run_at", "one_off")
    list_select_related = ("crontab", "interval", "solar", "clocked")

    @admin.display(description="schedule")
    def schedule(self, task: PeriodicTask) -> str:
        if task.crontab is not None:
            return str(task.crontab.human_readable)
        return str(task.interval or task.solar or task.clocked or "-")
