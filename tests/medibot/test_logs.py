"""Structured logs: JSON lines carrying the request id the response returns, ids, never content."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from django.test import Client
from rest_framework.test import APIClient

from medibot.logs import ContextFilter, JsonLineFormatter, KeyValueFormatter, enter_task, leave_task
from tests.factories import make_user

SECRET_TEXT = "my private symptom is zebra-striped-rash"


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The production handler (JSON formatter + context filter) on the root logger, at INFO."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)


def parsed(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.django_db(databases=["default", "chats"])
def test_a_chat_turn_logs_json_lines_with_the_request_id_of_the_response_header(
    json_lines: io.StringIO,
) -> None:
    user = make_user(username="logpat")
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/chat/send", {"message": SECRET_TEXT}, format="json")
    assert response.status_code in (200, 201)
    lines = parsed(json_lines)
    started = [line for line in lines if line["message"] == "chat session started"]
    assert started, lines
    assert started[0]["request_id"] == response["X-Request-ID"]
    assert started[0]["user_id"] == user.pk
    assert started[0]["session_id"] == response.json()["session_id"]
    assert {"time", "level", "logger"} <= set(started[0])
    assert SECRET_TEXT not in json_lines.getvalue()


@pytest.mark.django_db(databases=["default"])
def test_every_response_carries_a_fresh_request_id(client: Client) -> None:
    first, second = client.get("/login/"), client.get("/login/")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.django_db(databases=["default"])
def test_a_well_formed_proxy_request_id_is_kept_and_a_hostile_one_replaced(client: Client) -> None:
    kept = client.get("/login/", HTTP_X_REQUEST_ID="proxy-abc-12345")
    replaced = client.get("/login/", HTTP_X_REQUEST_ID="bad id\nforged=1")
    assert kept["X-Request-ID"] == "proxy-abc-12345"
    assert replaced["X-Request-ID"] != "bad id\nforged=1"
    assert len(replaced["X-Request-ID"]) == 32


def test_task_log_lines_carry_the_task_id_and_the_request_id_that_queued_it(json_lines: io.StringIO) -> None:
    enter_task(task_id="task-1", task_name="chats.tasks.sync_outbox", request_id="req-12345678")
    try:
        logging.getLogger("chats.tasks").warning("outbox drained", extra={"delivered": 3})
    finally:
        leave_task(task_id="task-1")
    logging.getLogger("chats.tasks").warning("after the task")
    during, after = parsed(json_lines)
    assert during["task_id"] == "task-1"
    assert during["task_name"] == "chats.tasks.sync_outbox"
    assert during["request_id"] == "req-12345678"
    assert during["delivered"] == 3
    assert "task_id" not in after


def test_local_text_lines_keep_the_ids_passed_in_extra() -> None:
    record = logging.LogRecord("chats.services", logging.INFO, __file__, 1, "chat session started", (), None)
    record.session_id = "s-1"
    record.user_id = 7
    ContextFilter().filter(record)
    line = KeyValueFormatter().format(record)
    assert line.endswith("INFO chats.services chat session started session_id=s-1 user_id=7")
