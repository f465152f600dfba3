"""The one place where errors become HTTP responses (REST_FRAMEWORK EXCEPTION_HANDLER).

App-agnostic: a domain error (``medibot.errors.DomainError``) carries its own status and body;
store outages (pymongo, the relational database) are 503.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from medibot.errors import DomainError

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = "Chat storage is temporarily unavailable."


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        return Response(exc.body(), status=exc.status_code)
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WTimeoutError)):
        logger.warning("chat store unavailable: %s", exc.__class__.__name__)
        return Response({"detail": STORE_UNAVAILABLE}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, (DatabaseOperationalError, DatabaseInterfaceError)):
        logger.warning("relational database unavailable: %s", exc.__class__.__name__)
        return Response(
            {"detail": "The account database is temporarily unavailable. Please try again shortly."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    if isinstance(exc, PyMongoError):
        logger.error("chat store error: %s", exc.__class__.__name__)
        return Response(
            {"detail": "The chat store could not complete the request."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
    return drf_exception_handler(exc, context)
