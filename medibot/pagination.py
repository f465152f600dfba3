"""Cursor pagination of the MySQL list APIs (EHR, audit log): bounded pages, and a malformed cursor
is bad input (400) rather than a missing page (DRF's 404)."""

from __future__ import annotations

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class StrictCursorPagination(CursorPagination):
    """Subclasses set ``ordering``."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError(
                {"cursor": ["Invalid cursor: use the next/previous links as given."]}
            ) from exc
