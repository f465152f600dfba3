"""Sending a message through the API: stored turns, streaming, provider failures, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from chats import selectors
from chats.models import ChatMessage, ChatSession, TokenUsage
from tests.chats.factories import session_with_messages
from tests.chats.fake_llm_server import FakeLlmServer

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def stored_messages(user: User, session_id: str) -> list[ChatMessage]:
    session = selectors.get_session(user_id=user.pk, session_id=session_id)
    return list(selectors.iter_session_messages(session=session))


def sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in body.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


@pytest.fixture
def failing_provider() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        server.fail_times = 100
        with override_settings(
            CHAT_RESPONDER="openai", OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", OPENAI_MAX_RETRIES=0
        ):
            yield server


@pytest.mark.parametrize("route", ["/api/chat", "/api/chat/send"])
def test_first_message_starts_a_session_and_stores_both_turns(
    alice: APIClient, patient: User, route: str
) -> None:
    response = alice.post(route, {"message": "I have had a headache since this morning."}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["session_id"] == body["conversation_id"]
    assert body["response"] == body["assistant_message"]["content"] != ""
    stored = stored_messages(patient, body["session_id"])
    assert [(m.role, m.order, m.message_id) for m in stored] == [
        ("user", 1, body["user_message"]["message_id"]),
        ("assistant", 2, body["assistant_message"]["message_id"]),
    ]
    assert stored[0].content == "I have had a headache since this morning."
    assert TokenUsage.objects.filter(user_id=patient.pk, message_id=stored[1].pk).count() == 1
    session = selectors.get_session(user_id=patient.pk, session_id=body["session_id"])
    assert session.title == "I have had a headache since this morning."
    assert session.message_count == 2


@pytest.mark.parametrize("key", ["session_id", "conversation_id"])
def test_a_known_id_continues_the_conversation(alice: APIClient, patient: User, key: str) -> None:
    first = alice.post("/api/chat/send", {"message": "Hello"}, format="json").json()

    response = alice.post(
        "/api/chat/send", {"message": "And a fever too", key: first["session_id"]}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["session_id"] == first["session_id"]
    assert [m.order for m in stored_messages(patient, first["session_id"])] == [1, 2, 3, 4]


def test_sending_to_another_users_session_is_404_and_stores_nothing(
    mallory: APIClient, patient: User
) -> None:
    session = session_with_messages(user_id=patient.pk, messages=2)

    response = mallory.post(
        "/api/chat/send", {"message": "hi", "session_id": session.session_id}, format="json"
    )

    assert response.status_code == 404
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 2


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 32_001}, "message"),
        ({"message": "hi", "session_id": "a", "conversation_id": "b"}, "non_field_errors"),
        ({"message": "hi", "user_id": 1}, "user_id"),
    ],
)
def test_bad_input_is_400_with_a_message_and_stores_nothing(
    alice: APIClient, patient: User, payload: dict[str, Any], field: str
) -> None:
    response = alice.post("/api/chat/send", payload, format="json")

    assert response.status_code == 400
    assert field in json.dumps(response.json())
    assert ChatSession.objects.filter(user_id=patient.pk).count() == 0


def test_streamed_reply_arrives_in_chunks_and_is_stored_whole(alice: APIClient, patient: User) -> None:
    response = alice.post(
        "/api/chat/send?stream=true", {"message": "What helps a sore throat?"}, format="json"
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = sse_events(b"".join(response.streaming_content))  # type: ignore[attr-defined]
    tokens = [data["text"] for name, data in events if name == "token"]
    name, done = events[-1]
    assert name == "done"
    assert len(tokens) > 1
    stored = stored_messages(patient, done["session_id"])
    assert [m.message_id for m in stored] == [done["user_message_id"], done["assistant_message_id"]]
    assert stored[1].content == "".join(tokens)


def test_a_client_that_leaves_mid_stream_leaves_the_partial_reply_stored_as_stopped(
    alice: APIClient, patient: User
) -> None:
    response = alice.post(
        "/api/chat/send",
        {"message": "What helps a sore throat?"},
        format="json",
        HTTP_ACCEPT="text/event-stream",
    )
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    first = next(chunks)
    response.close()

    assert first.startswith(b"event: token")
    session_id = response["X-Session-Id"]
    stored = stored_messages(patient, session_id)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].status == "stopped"
    assert stored[1].content == json.loads(first.decode().split("data: ", 1)[1])["text"]


def test_provider_failure_is_502_and_keeps_the_users_message(
    alice: APIClient, patient: User, failing_provider: FakeLlmServer
) -> None:
    response = alice.post("/api/chat/send", {"message": "Is ibuprofen safe with asthma?"}, format="json")

    assert response.status_code == 502
    body = response.json()
    assert "saved" in body["detail"]
    stored = stored_messages(patient, body["session_id"])
    assert [(m.role, m.status) for m in stored] == [("user", "completed"), ("assistant", "failed")]
    assert stored[0].content == "Is ibuprofen safe with asthma?"
    assert stored[1].error_info == {"code": "provider_http_500"}


def test_provider_failure_while_streaming_ends_with_an_error_event(
    alice: APIClient, patient: User, failing_provider: FakeLlmServer
) -> None:
    response = alice.post("/api/chat/send?stream=1", {"message": "Is ibuprofen safe?"}, format="json")

    events = sse_events(b"".join(response.streaming_content))  # type: ignore[attr-defined]

    assert [name for name, _ in events] == ["error"]
    stored = stored_messages(patient, events[0][1]["session_id"])
    assert [m.status for m in stored] == ["completed", "failed"]


def test_a_reply_longer_than_the_limit_is_stored_truncated_and_marked(
    alice: APIClient, patient: User, settings: Any
) -> None:
    settings.CHAT_MAX_MESSAGE_CHARS = 60

    response = alice.post("/api/chat/send", {"message": "How can I sleep better?"}, format="json")

    assert response.status_code == 201, response.content
    stored = stored_messages(patient, response.json()["session_id"])
    assert len(stored[1].content) == 60
    assert stored[1].metadata["truncated"] is True
