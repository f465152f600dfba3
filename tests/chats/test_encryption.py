"""Per-patient encryption of chat content (CHAT_ENCRYPTION=on): nothing readable at rest, the owner
reads and continues normally, another patient's key cannot decrypt, shredding makes it unreadable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bson import BSON, Binary
from bson.codec_options import CodecOptions
from django.test import override_settings
from pymongo import MongoClient
from pymongo.encryption import ClientEncryption
from rest_framework.test import APIClient

from accounts.models import User
from chats import crypto, selectors, store
from chats.models import ChatMessage, ChatSession, MessageVote
from tests.chats.conftest import client_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

SECRET = "My psoriasis flares whenever I take lithium-carbonate 450mg"


@pytest.fixture(autouse=True)
def encryption_on() -> Iterator[None]:
    with override_settings(CHAT_ENCRYPTION="on"):
        yield


def raw_bytes(model: Any, user_id: int) -> bytes:
    """Every stored document of ``user_id`` in ``model``'s collection, as BSON bytes (no decoder)."""
    chats = store.database()
    plain = chats.client.get_database(chats.name, codec_options=CodecOptions())
    return b"".join(BSON.encode(doc) for doc in plain[model._meta.db_table].find({"user_id": user_id}))


def raw_documents(model: Any, user_id: int) -> list[dict[str, Any]]:
    chats = store.database()
    plain = chats.client.get_database(chats.name, codec_options=CodecOptions())
    return list(plain[model._meta.db_table].find({"user_id": user_id}))


def send(client: APIClient, text: str, session_id: str = "") -> dict[str, Any]:
    body = {"message": text, **({"session_id": session_id} if session_id else {})}
    response = client.post("/api/chat/send", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def test_stored_documents_contain_no_plaintext_of_a_message(alice: APIClient, patient: User) -> None:
    sent = send(alice, SECRET)
    voted = alice.post(
        f"/api/chat/messages/{sent['assistant_message']['message_id']}/vote",
        {"vote_type": "down", "reason": "lithium-carbonate advice was wrong"},
        format="json",
    )

    assert voted.status_code in (200, 201), voted.content
    stored = raw_bytes(ChatMessage, patient.pk) + raw_bytes(ChatSession, patient.pk)
    stored += raw_bytes(MessageVote, patient.pk)
    for fragment in ("psoriasis", "lithium-carbonate", "450mg"):
        assert fragment.encode() not in stored
    message = min(raw_documents(ChatMessage, patient.pk), key=lambda document: document["order"])
    assert isinstance(message["content"], Binary) and message["content"].subtype == 6
    assert (message["role"], message["order"], message["user_id"]) == ("user", 1, patient.pk)


def test_the_owner_reads_and_continues_the_conversation(alice: APIClient, patient: User) -> None:
    first = send(alice, SECRET)

    second = send(alice, "And it itches at night", first["session_id"])

    page = alice.get(f"/api/chat/sessions/{first['session_id']}/messages").json()
    contents = [m["content"] for m in page["messages"]] if "messages" in page else page
    assert SECRET in str(contents) and "And it itches at night" in str(contents)
    session = selectors.get_session(user_id=patient.pk, session_id=second["session_id"])
    assert session.title == SECRET[:80].strip() or SECRET.startswith(session.title)
    assert session.message_count == 4

