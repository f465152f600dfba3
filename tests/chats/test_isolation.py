"""Another user's session, message or vote is a 404 for every route and method, and stays unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chats import services
from chats.models import ChatMessage, ChatSession, MessageVote
from tests.chats.factories import exchange, session_with_messages

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

SESSION_ROUTES = [
    ("get", "/api/chat/sessions/{sid}"),
    ("patch", "/api/chat/sessions/{sid}"),
    ("put", "/api/chat/sessions/{sid}"),
    ("delete", "/api/chat/sessions/{sid}"),
    ("post", "/api/chat/sessions/{sid}/restore"),
    ("delete", "/api/chat/sessions/{sid}/permanent"),
    ("get", "/api/chat/sessions/{sid}/full"),
    ("get", "/api/chat/sessions/{sid}/messages"),
    ("get", "/api/chat/sessions/{sid}/statistics"),
    ("get", "/api/chat/sessions/{sid}/export?format=json"),
    ("get", "/api/chat/sessions/{sid}/export?format=csv"),
    ("get", "/api/chat/sessions/{sid}/token-usage"),
    ("get", "/api/conversation/{sid}/messages"),
    ("get", "/api/conversation/{sid}"),
    ("delete", "/api/conversation/{sid}"),
    ("post", "/api/chat/send"),
    ("post", "/api/chat"),
]
MESSAGE_ROUTES = [("post", "/api/chat/messages/{mid}/vote"), ("delete", "/api/chat/messages/{mid}/vote")]
BODIES = {
    "patch": {"title": "pwned"},
    "put": {"title": "pwned"},
    "post": {"vote_type": "down", "message": "hi", "session_id": "{sid}", "conversation_id": "{sid}"},
}


def snapshot(session: ChatSession) -> tuple[object, ...]:
    stored = ChatSession.objects.get(pk=session.pk)
    return (
        stored.title,
        stored.deleted_at,
        stored.message_count,
        ChatMessage.objects.filter(session_id=session.pk).count(),
        sorted(MessageVote.objects.filter(session_id=session.pk).values_list("vote_type", flat=True)),
    )


@pytest.fixture
def victims_data(patient: User) -> tuple[ChatSession, ChatMessage]:
    session = session_with_messages(user_id=patient.pk, messages=0, title="alice private")
    _, assistant, _ = exchange(
        session=session,
        user_content="my private question",
        reply=services.Reply(
            content="private answer", model="m", prompt_tokens=1, completion_tokens=1, cost=Decimal(0)
        ),
    )
    services.vote(message=assistant, user_id=patient.pk, vote_type="up")
    return session, assistant


@pytest.mark.parametrize(("method", "template"), SESSION_ROUTES + MESSAGE_ROUTES)
def test_other_users_object_is_404_and_unchanged(
    mallory: APIClient, victims_data: tuple[ChatSession, ChatMessage], method: str, template: str
) -> None:
    session, message = victims_data
    before = snapshot(session)
    url = template.format(sid=session.session_id, mid=message.message_id)
    body = {
        key: value.format(sid=session.session_id) if isinstance(value, str) else value
        for key, value in BODIES.get(method, {}).items()
    }
    if template.startswith("/api/chat/messages"):
        body = {"vote_type": "down"}
    elif method == "post" and not template.endswith("/restore"):
        body = {"message": "hi", "session_id": session.session_id}
    response = getattr(mallory, method)(url, body, format="json")

    assert response.status_code == 404, (method, url, response.status_code)
    assert b"private" not in b"".join(getattr(response, "streaming_content", [response.content]))
    assert snapshot(session) == before


def test_other_users_session_is_absent_from_lists_search_and_exports(
    mallory: APIClient, victims_data: tuple[ChatSession, ChatMessage]
) -> None:
    assert mallory.get("/api/chat/sessions").json()["results"] == []
    assert mallory.get("/api/conversations").json()["results"] == []
    found = mallory.get("/api/chat/search?q=private").json()["data"]
    assert (found["sessions"], found["messages"], found["has_more"]) == ([], [], False)
    assert mallory.get("/api/chat-history").json() == []
    assert b"".join(mallory.get("/api/chat/export").streaming_content) == b""  # type: ignore[attr-defined]
    assert mallory.get("/api/chat/token-usage").json()["total_tokens"] == 0
    assert mallory.delete("/api/chat-history/clear-all").json()["messages"] == 0


@pytest.mark.parametrize("bad_id", ["x" * 65, "%24ne", "..%2F..", "null", "0"])
def test_malformed_ids_are_404_not_500(mallory: APIClient, bad_id: str) -> None:
    assert mallory.get(f"/api/chat/sessions/{bad_id}").status_code == 404
    assert (
        mallory.post(f"/api/chat/messages/{bad_id}/vote", {"vote_type": "up"}, format="json").status_code
        == 404
    )
