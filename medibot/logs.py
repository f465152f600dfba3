"""Structured logging: every line carries the request or task it belongs to.

``LOG_FORMAT=json`` (production's default) writes one JSON object per line; ``text`` (the default
elsewhere) writes the same fields as ``key=value`` after the message. The ids come from context
variables set by ``RequestIdMiddleware`` and the Celery signals in ``medibot.celery``; the ids a
call site passes in ``extra`` (``session_id``, ``message_id``, ...) are kept as fields. Message
text and EHR values are never passed to a logger (``tests/ehr/test_logging.py`` guards that).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject, empty
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
# An id handed in by the proxy is kept only when it is short and plain (no log injection).
_INCOMING_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

request_id_var: ContextVar[str | None] = ContextVar("medibot_request_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("medibot_task_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("medibot_task_name", default=None)
_request_var: ContextVar[HttpRequest | None] = ContextVar("medibot_request", default=None)

CONTEXT_FIELDS = ("request_id", "user_id", "task_id", "task_name")
# Record attributes that are objects rather than values (Django puts the request on some records).
_DROPPED_ATTRS = ("request", "server_time", "taskName", "color_message")


def new_request_id(incoming: str | None = None) -> str:
    """The proxy's id when it is well-formed, else a fresh one."""
    if incoming and _INCOMING_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


@contextmanager
def request_context(request: HttpRequest, request_id: str) -> Iterator[None]:
    request_token = request_id_var.set(request_id)
    holder_token = _request_var.set(request)
    try:
        yield
    finally:
        _request_var.reset(holder_token)
        request_id_var.reset(request_token)


_task_tokens: dict[str | None, list[Token[Any]]] = {}


def enter_task(*, task_id: str | None, task_name: str | None, request_id: str | None) -> None:
    """Log context of a Celery task; an eager task run inside a request keeps the request's id."""
    tokens: list[Token[Any]] = [task_id_var.set(task_id), task_name_var.set(task_name)]
    if request_id:
        tokens.append(request_id_var.set(request_id))
    _task_tokens[task_id] = tokens


def leave_task(*, task_id: str | None) -> None:
    for token in reversed(_task_tokens.pop(task_id, [])):
        token.var.reset(token)


def _authenticated_user_id(request: HttpRequest | None) -> int | None:
    """The user id once authentication has run; never triggers authentication from a log call."""
    if request is None:
        return None
    user = request.__dict__.get("user")
    if isinstance(user, SimpleLazyObject):
        wrapped = user._wrapped  # type: ignore[attr-defined]
        if wrapped is empty:
            return None
        user = wrapped
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "pk", None)


class ContextFilter(logging.Filter):
    """Adds request_id, user_id, task_id and task_name (None when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        if getattr(record, "user_id", None) is None:
            record.user_id = _authenticated_user_id(_request_var.get())
        if getattr(record, "task_id", None) is None:
            record.task_id = task_id_var.get()
        if getattr(record, "task_name", None) is None:
            record.task_name = task_name_var.get()
        return True


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    skip = set(RESERVED_ATTRS) | set(_DROPPED_ATTRS)
    return {
        key: value for key, value in record.__dict__.items() if key not in skip and not key.startswith("_")
    }


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message, the context ids and the extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, *_DROPPED_ATTRS])
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for key in CONTEXT_FIELDS:
            if log_data.get(key) is None:
                log_data.pop(key, None)


class KeyValueFormatter(logging.Formatter):
    """Readable locally: ``time LEVEL logger message key=value ...`` with the same fields as JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = " ".join(
            f"{key}={value}" for key, value in _extra_fields(record).items() if value is not None
        )
        if not fields:
            return line
        head, newline, trace = line.partition("\n")
        return f"{head} {fields}{newline}{trace}"


def logging_config(*, log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING dict for ``json`` or ``text`` lines on stderr."""
    formatter = "json" if log_format == "json" else "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "medibot.logs.ContextFilter"}},
        "formatters": {
            "json": {"()": "medibot.logs.JsonLineFormatter"},
            "text": {"()": "medibot.logs.KeyValueFormatter"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": formatter, "filters": ["context"]}
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            "pymongo": {"level": "WARNING"},
        },
    }


class RequestIdMiddleware:
    """Gives each request an id (the proxy's ``X-Request-ID`` when sane), puts it on every log line
    written while the request runs and returns it in the ``X-Request-ID`` response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = new_request_id(request.headers.get(REQUEST_ID_HEADER))
        request.request_id = request_id  # type: ignore[attr-defined]
        with request_context(request, request_id):
            response = self.get_response(request)
        if response.streaming and not response.is_async:  # type: ignore[attr-defined]
            # A streamed reply (SSE) runs after this returns: each chunk re-enters the context.
            response.streaming_content = _within_request(  # type: ignore[attr-defined]
                response.streaming_content, request, request_id  # type: ignore[attr-defined]
            )
        response[REQUEST_ID_HEADER] = request_id
        return response


def _within_request(chunks: Iterable[bytes], request: HttpRequest, request_id: str) -> Iterator[bytes]:
    iterator = iter(chunks)
    while True:
        with request_context(request, request_id):
            chunk = next(iterator, None)
        if chunk is None:
            return
        yield chunk
