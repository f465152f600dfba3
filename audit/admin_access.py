"""Audit events for the admin: pages of someone else's chats or EHR shown, changed or deleted.

``AuditedAdminMixin`` goes first in a ModelAdmin's bases. It records a ``read`` for every row of a
rendered changelist (or, with ``audit_list_per_owner``, one per owner naming the rows shown), one
for a rendered change form (``audit_page_view`` says what it showed), and
one for a rendered history page (it names the object), and
``create``/``change``/``delete`` where the admin writes its own LogEntry (after a successful save or
delete). Actions that change data through services record their own events with
``record_admin_accesses``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse

from audit import services
from audit.models import MAX_DETAIL_CHARS, AuditEvent

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    _AdminBase = ModelAdmin[Any]
else:
    _AdminBase = object


def rendered_context(response: HttpResponseBase) -> dict[str, Any]:
    """The context of a page the admin is about to render, or {} (redirects, downloads, errors)."""
    if isinstance(response, TemplateResponse) and response.status_code == 200:
        return dict(response.context_data or {})
    return {}


def record_changelist_reads(
    request: HttpRequest, response: HttpResponseBase, access_for: Callable[[Any], services.Access]
) -> None:
    """One ``read`` per row of a rendered changelist page (a single insert for the page)."""
    changelist = rendered_context(response).get("cl")
    if changelist is not None:
        services.record_accesses(
            actor=request.user, accesses=[access_for(row) for row in changelist.result_list], request=request
        )


def per_owner_reads(*, object_type: str, rows: Iterable[tuple[int, str]], noun: str) -> list[services.Access]:
    """One ``read`` per owner for a page of their rows (``(owner_id, object_id)``), naming the rows shown.

    A page of 50 messages of one patient is one event, not 50; ``detail`` lists the ids, split over
    more events only if they would not fit in one.
    """
    by_owner: dict[int, list[str]] = {}
    for owner_id, object_id in rows:
        by_owner.setdefault(owner_id, []).append(object_id)
    accesses: list[services.Access] = []
    for owner_id, object_ids in by_owner.items():
        chunks: list[list[str]] = [[]]
        for object_id in object_ids:
            if len(_listing(noun, [*chunks[-1], object_id])) > MAX_DETAIL_CHARS:
                chunks.append([])
            chunks[-1].append(object_id)
        accesses += [
            services.Access(AuditEvent.Action.READ, object_type, "", owner_id, detail=_listing(noun, chunk))
            for chunk in chunks
            if chunk
        ]
    return accesses


def _listing(noun: str, object_ids: list[str]) -> str:
    return f"{noun} shown ({len(object_ids)}): " + ", ".join(object_ids)


class AuditedAdminMixin(_AdminBase):
    """Audits the admin's views of a model whose rows belong to a user (``audit_owner_id``)."""

    def audit_owner_id(self, obj: Any) -> int | None:
        raise NotImplementedError

    def audit_object_id(self, obj: Any) -> str:
        return str(obj.pk)

    def audit_access(self, obj: Any, action: str, detail: str = "") -> services.Access:
        return services.Access(
            action=action,
            object_type=obj._meta.label_lower,
            object_id=self.audit_object_id(obj),
            owner_id=self.audit_owner_id(obj),
            detail=detail,
        )

    def audit_page_view(self, obj: Any, context: dict[str, Any]) -> services.Access:
        """The one event a rendered change form records; a subclass adds what the page showed."""
        return self.audit_access(obj, AuditEvent.Action.READ)

    def record_admin_accesses(self, request: HttpRequest, objects: Iterable[Any], action: str) -> None:
        services.record_accesses(
            actor=request.user, accesses=[self.audit_access(obj, action) for obj in objects], request=request
        )

    audit_list_per_owner = False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = rendered_context(response).get("cl")
        if changelist is not None and self.audit_list_per_owner:
            rows = [(self.audit_owner_id(row), self.audit_object_id(row)) for row in changelist.result_list]
            services.record_accesses(
                actor=request.user,
                accesses=per_owner_reads(
                    object_type=self.model._meta.label_lower,
                    rows=[(owner, object_id) for owner, object_id in rows if owner is not None],
                    noun=str(self.model._meta.verbose_name_plural),
                ),
                request=request,
            )
        elif changelist is not None:
            record_changelist_reads(
                request, response, lambda row: self.audit_access(row, AuditEvent.Action.READ)
            )
        return response

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        response = super().changeform_view(request, object_id, form_url, extra_context)
        context = rendered_context(response)
        original = context.get("original")
        if request.method == "GET" and object_id is not None and original is not None:
            services.record_accesses(
                actor=request.user, accesses=[self.audit_page_view(original, context)], request=request
            )
        return response

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> Any:
        """The history page names the object (``str(obj)``): one ``read`` event when it is shown."""
        response = super().history_view(request, object_id, extra_context)
        shown = rendered_context(response).get("object")
        if shown is not None:
            services.record_accesses(
                actor=request.user,
                accesses=[self.audit_access(shown, AuditEvent.Action.READ, detail="change history")],
                request=request,
            )
        return response

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        logged = super().log_addition(request, obj, message)
        self.record_admin_accesses(request, [obj], AuditEvent.Action.CREATE)
        return logged

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        logged = super().log_change(request, obj, message)
        self.record_admin_accesses(request, [obj], AuditEvent.Action.CHANGE)
        return logged

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        objects = list(queryset)  # fills the queryset's cache: the LogEntry rows reuse it
        logged = super().log_deletions(request, queryset)
        self.record_admin_accesses(request, objects, AuditEvent.Action.DELETE)
        return logged
