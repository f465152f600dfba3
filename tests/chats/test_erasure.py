"""Erasure is a recorded operation that stays erased; a legal hold wins over every erasure."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from chats import services
from chats.models import ChatMessage, ChatSession
from chats.outbox import services as outbox
from chats.outbox.models import Erasure, OutboxEntry
from tests.chats.factories import bulk_messages, session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _queued_message(
    *, user_id: int, session: ChatSession, text: str = "accepted before erasure"
) -> OutboxEntry:
    return outbox.enqueue_message(
        user_id=user_id,
        session_id=session.session_id,
        message_id=str(uuid.uuid4()),
        role="user",
        content=text,
        created_at=timezone.now(),
    )


def test_clear_all_is_recorded_with_who_and_when() -> None:
    patient = make_user(username="eraser")
    session_with_messages(user_id=patient.pk, messages=2)

    response = _client(patient).delete("/api/chat-history/clear-all")

    assert response.status_code == 200
    erasure = Erasure.objects.get(pk=response.json()["erasure_id"])
    assert (erasure.user_id, erasure.session_id, erasure.requested_by_id) == (patient.pk, "", patient.pk)
    assert erasure.completed_at is not None
    assert not ChatSession.objects.filter(user_id=patient.pk).exists()


@pytest.mark.slow
def test_a_10000_message_conversation_is_erased_completely() -> None:
    """One transaction cannot delete a long conversation within the request deadline: the erasure
    must still complete (at once, or as a pending erasure the next sync finishes)."""
    patient = make_user(username="long-eraser")
    bulk_messages(session=services.start_session(user_id=patient.pk), count=10_000)

    response = _client(patient).delete("/api/chat-history/clear-all")
    if response.status_code == 202:
        services.complete_pending_erasures()

    assert response.status_code in (200, 202)
    assert Erasure.objects.get(pk=response.json()["erasure_id"]).completed_at is not None
    assert not ChatMessage.objects.filter(user_id=patient.pk).exists()
    assert not ChatSession.objects.filter(user_id=patient.pk).exists()


def test_queued_entries_accepted_before_a_clear_never_come_back() -> None:
    patient = make_user(username="queued")
    session = session_with_messages(user_id=patient.pk, messages=2)
    _queued_message(user_id=patient.pk, session=session)

    _client(patient).delete("/api/chat-history/clear-all")
    outbox.drain()

    assert not ChatMessage.objects.filter(user_id=patient.pk).exists()
    assert not ChatSession.objects.filter(user_id=patient.pk).exists()
    assert not OutboxEntry.objects.filter(user_id=patient.pk).exists()


def test_an_entry_that_escaped_the_purge_is_dropped_at_delivery() -> None:
    patient = make_user(username="escaped")
    session = session_with_messages(user_id=patient.pk, messages=1)
    services.request_erasure(user_id=patient.pk, requested_by_id=patient.pk)
    late = _queued_message(user_id=patient.pk, session=session)
    OutboxEntry.objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(minutes=1))

    outbox.drain()

    assert not OutboxEntry.objects.filter(pk=late.pk).exists()
    assert not ChatMessage.objects.filter(user_id=patient.pk).exists()


def test_permanent_delete_of_a_held_session_hides_it_and_says_so() -> None:
    patient = make_user(username="held")
    session = session_with_messages(user_id=patient.pk, messages=2)
    services.set_legal_hold(session=session, hold=True)

    response = _client(patient).delete(f"/api/chat/sessions/{session.session_id}/permanent")

    assert response.status_code == 200
    assert response.json()["kept"] == [session.session_id]
    assert "legal hold" in response.json()["detail"]
    stored = ChatSession.objects.get(pk=session.pk)
    assert stored.deleted_at is not None
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 2
    assert _client(patient).get(f"/api/chat/sessions/{session.session_id}").status_code == 404


def test_clear_all_erases_what_is_not_held_and_reports_what_was_kept() -> None:
    patient = make_user(username="mixed")
    held = session_with_messages(user_id=patient.pk, messages=2)
    free = session_with_messages(user_id=patient.pk, messages=3)
    services.set_legal_hold(session=held, hold=True)

    body = _client(patient).delete("/api/chat-history/clear-all").json()

    assert (body["sessions"], body["messages"], body["kept"]) == (1, 3, [held.session_id])
    assert not ChatSession.objects.filter(pk=free.pk).exists()
    assert ChatMessage.objects.filter(session_id=held.pk).count() == 2
    assert Erasure.objects.get(pk=body["erasure_id"]).kept_session_ids == [held.session_id]


def test_retention_never_touches_a_held_session() -> None:
    held = session_with_messages(messages=1)
    services.set_legal_hold(session=held, hold=True)
    services.soft_delete_session(session=held)
    ChatSession.objects.filter(pk=held.pk).update(deleted_at=timezone.now() - timedelta(days=400))

    services.cleanup_chats(days_old=1)

    assert ChatSession.objects.filter(pk=held.pk).exists()


def test_an_erasure_interrupted_by_an_outage_completes_on_the_next_sync() -> None:
    patient = make_user(username="interrupted")
    session_with_messages(user_id=patient.pk, messages=2)
    pending = Erasure.objects.create(user_id=patient.pk, requested_by_id=patient.pk)

    outbox.drain()

    pending.refresh_from_db()
    assert pending.completed_at is not None
    assert not ChatMessage.objects.filter(user_id=patient.pk).exists()


def test_erasing_twice_is_harmless() -> None:
    patient = make_user(username="twice")
    session_with_messages(user_id=patient.pk, messages=2)

    first = services.request_erasure(user_id=patient.pk, requested_by_id=patient.pk)
    second = services.request_erasure(user_id=patient.pk, requested_by_id=patient.pk)

    assert (first.counts.messages, second.counts.messages, second.completed) == (2, 0, True)


def test_a_streamed_reply_that_cannot_be_stored_during_an_outage_is_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pymongo.errors import ServerSelectionTimeoutError

    from chats.services import turn

    patient = make_user(username="streamer")

    def store_down(**kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("chat store unreachable")

    streamed = turn.stream_turn(user_id=patient.pk, session_id=None, text="Is ibuprofen safe?")
    monkeypatch.setattr(turn, "record_reply", store_down)
    finished = list(streamed.events)[-1]

    assert (finished.event, finished.data["queued"]) == ("done", True)
    queued = OutboxEntry.objects.get(user_id=patient.pk, kind=OutboxEntry.Kind.REPLY)
    assert queued.object_id == finished.data["assistant_message_id"]
