"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

NO_STORE_PREFIXES = ("/api/", "/admin/")
NO_STORE_EXEMPT = ("/api/schema/", "/api/docs/")


class NoStoreMiddleware:
    """API and admin responses carry chat/EHR content: never cache them anywhere."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(NO_STORE_PREFIXES) and not request.path.startswith(NO_STORE_EXEMPT):
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response
