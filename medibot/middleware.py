"""Project middleware."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

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


class ApiBodyLimitMiddleware:
    """An ``/api/`` body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a JSON 413 before anything reads it.

    Django would raise ``RequestDataTooBig`` on the first read (a 400 HTML page, or a 500 when a
    view reads the body itself); clients deserve a status that says what is wrong.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.path.startswith("/api/") and limit is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Content-Length is not a number."}, status=400)
            if length > limit:
                return JsonResponse(
                    {"detail": f"Request body too large: at most {limit} bytes are accepted."}, status=413
                )
        return self.get_response(request)
