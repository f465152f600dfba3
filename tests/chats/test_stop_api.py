"""``POST /api/chat/sessions/<id>/stop`` against a real (slow) OpenAI-compatible stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from chats import selectors
from chats.models import ChatMessage, TokenUsage
from tests.chats.factories import session_with_messages
from tests.chats.fake_llm_server import FakeLlmServer

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

LONG_REPLY = " ".join(f"word{number}" for number in range(200))


@pytest.fixture
def slow_provider() -> Iterator[FakeLlmServer]:
    """Streams one word every 20 ms: a reply takes seconds, long enough to stop."""
    with (
        FakeLlmServer(reply_text=LONG_REPLY, chunk_delay_seconds=0.02) as server,
        override_settings(
            CHAT_RESPONDER="openai", OPENAI_BASE_URL=server.url, OPENAI_API_KEY="k", OPENAI_MAX_RETRIES=0
        ),
    ):
        yield server


def event_of(chunk: bytes | str) -> tuple[str, dict[str, Any]]:
    text = chunk.decode() if isinstance(chunk, bytes) else chunk
    lines = dict(line.split(": ", 1) for line in text.strip().splitlines())
    return lines["event"], json.loads(lines["data"])


def stored_messages(user: User, session_id: str) -> list[ChatMessage]:
    session = selectors.get_session(user_id=user.pk, session_id=session_id)
    return list(selectors.iter_session_messages(session=session))


def test_stop_ends_the_stream_with_a_stopped_event_and_stores_the_partial_reply(
    alice: APIClient, patient: User, slow_provider: FakeLlmServer
) -> None:
    response = alice.post("/api/chat/send?stream=true", {"message": "Tell me everything"}, format="json")
    session_id = response["X-Session-Id"]
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    first = event_of(next(chunks))

    stop = alice.post(f"/api/chat/sessions/{session_id}/stop")
    rest = [event_of(chunk) for chunk in chunks]

    assert stop.status_code == 202
    assert first[0] == "token"
    name, data = rest[-1]
    assert name == "stopped"
    streamed = first[1]["text"] + "".join(d["text"] for n, d in rest if n == "token")
    stored = stored_messages(patient, session_id)
    assert [(m.role, m.status) for m in stored] == [("user", "completed"), ("assistant", "stopped")]
    assert stored[1].message_id == data["assistant_message_id"]
    assert stored[1].content == streamed
    assert len(streamed) < len(LONG_REPLY)
    assert TokenUsage.objects.get(message_id=stored[1].pk).completion_tokens > 0


def test_stop_closes_the_request_to_the_provider(
    alice: APIClient, patient: User, slow_provider: FakeLlmServer
) -> None:
    response = alice.post("/api/chat/send?stream=true", {"message": "Tell me everything"}, format="json")
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    next(chunks)

    alice.post(f"/api/chat/sessions/{response['X-Session-Id']}/stop")
    list(chunks)

    assert slow_provider.wait_for_broken_stream(timeout=10)


def test_the_next_message_after_a_stop_is_answered_in_full(
    alice: APIClient, patient: User, slow_provider: FakeLlmServer
) -> None:
    response = alice.post("/api/chat/send?stream=true", {"message": "Tell me everything"}, format="json")
    session_id = response["X-Session-Id"]
    chunks = iter(response.streaming_content)  # type: ignore[attr-defined]
    next(chunks)
    alice.post(f"/api/chat/sessions/{session_id}/stop")
    list(chunks)
    slow_provider.reply_text = "Short answer."

    again = alice.post(
        "/api/chat/send?stream=true", {"message": "In short?", "session_id": session_id}, format="json"
    )
    events = [event_of(chunk) for chunk in again.streaming_content]  # type: ignore[attr-defined]

    assert events[-1][0] == "done"
    stored = stored_messages(patient, session_id)
    assert [m.status for m in stored] == ["completed", "stopped", "completed", "completed"]
    assert stored[-1].content == "Short answer."


def test_stopping_someone_elses_conversation_is_404(
    alice: APIClient, mallory: APIClient, patient: User
) -> None:
    session = session_with_messages(user_id=patient.pk, messages=2)

    response = mallory.post(f"/api/chat/sessions/{session.session_id}/stop")

    assert response.status_code == 404


def test_stop_needs_a_signed_in_user(patient: User) -> None:
    session = session_with_messages(user_id=patient.pk)

    response = APIClient().post(f"/api/chat/sessions/{session.session_id}/stop")

    assert response.status_code in (401, 403)
