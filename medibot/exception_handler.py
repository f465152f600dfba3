"""The one place where domain errors become HTTP responses (REST_FRAMEWORK EXCEPTION_HANDLER)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chats.exceptions import (
    ChatError,
    InvalidChatInput,
    MessageNotFound,
    ReplyFailed,
    SessionAlreadyExists,
    SessionNotFound,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[ChatError], int]] = [
    (SessionNotFound, status.HTTP_404_NOT_FOUND),
    (MessageNotFound, status.HTTP_404_NOT_FOUND),
    (SessionAlreadyExists, status.HTTP_409_CONFLICT),
    (InvalidChatInput, status.HTTP_400_BAD_REQUEST),
    (ReplyFailed, status.HTTP_502_BAD_GATEWAY),
    (StoreUnavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ChatError):
        for error_class, code in STATUS_BY_ERROR:
            if isinstance(exc, error_class):
                return Response({"detail": exc.message, **exc.extra}, status=code)
        return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, (ConnectionFailure, ExecutionTimeout, WTimeoutError)):
        logger.warning("chat store unavailable: %s", exc.__class__.__name__)
        return Response({"detail": StoreUnavailable().message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
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
