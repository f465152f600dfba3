"""Audit API: an owner's log of who accessed their data."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.request import Request
from rest_framework.response import Response

from audit import selectors
from audit.api.serializers import AccessLogEntryOutput
from audit.models import AuditEvent
from medibot.pagination import StrictCursorPagination


class AccessLogPagination(StrictCursorPagination):
    ordering = "-sequence"


class MyAccessLogApi(ListModelMixin, GenericAPIView):
    """GET /api/audit/me: who read, exported, changed or deleted the caller's chats or EHR.

    ``ListModelMixin`` only tells the schema generator this is a paginated list; ``get`` is its own.
    """

    serializer_class = AccessLogEntryOutput
    pagination_class = AccessLogPagination

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if getattr(self, "swagger_fake_view", False):
            return AuditEvent.objects.none()
        return selectors.events_about(owner_id=int(self.request.user.pk))  # type: ignore[arg-type]

    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        events = list(page or [])
        output = AccessLogEntryOutput(
            events, many=True, context={"users": selectors.users_by_id(user_ids=[e.actor_id for e in events])}
        )
        return self.get_paginated_response(output.data)
