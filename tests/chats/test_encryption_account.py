"""Deleting a patient's account with encryption on: their chats, vocabulary, outbox entries and
transfer files go, their data key is destroyed (a fresh client cannot decrypt their backup) —
unless a legal hold keeps the held conversations and the key, which the answer says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken, User
from chats import backups, crypto, selectors, services
from chats.models import ChatMessage, ChatSession, MessageVote, SearchTerm
from chats.outbox import services as outbox
from chats.outbox.models import Erasure, OutboxEntry
from tests.chats.encryption_keys import own_keys, raw_documents
from tests.factories import make_user, token_for

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory's
SECRET = "My psoriasis flares whenever I take lithium-carbonate 450mg"


@pytest.fixture(autouse=True)
def encryption_on(tmp_path: Path) -> Iterator[None]:
    with own_keys(tmp_path):
        yield


def signed_in(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def send(client: APIClient, text: str) -> dict[str, Any]:
    response = client.post("/api/chat/send", {"message": text}, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def delete_account(client: APIClient, password: str = PASSWORD) -> Any:
    return client.post("/api/auth/account/delete", {"password": password}, format="json")


def test_deleting_an_account_erases_every_chat_document_and_destroys_the_key(tmp_path: Path) -> None:
    patient = make_user(username="dora-delete")
    client = signed_in(patient)
    sent = send(client, SECRET)
    client.post(
        f"/api/chat/messages/{sent['assistant_message']['message_id']}/vote",
        {"vote_type": "down", "reason": "lithium-carbonate advice was wrong"},
        format="json",
    )
    assert raw_documents(SearchTerm, patient.pk)

    response = delete_account(client)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "deleted": True,
        "completed": True,
        "kept": 0,
        "detail": "Your account and all your data were deleted.",
    }
    for model in (ChatSession, ChatMessage, MessageVote, SearchTerm):
        assert raw_documents(model, patient.pk) == [], model
    assert not crypto.patient_key_exists(patient.pk)
    assert not User.objects.filter(pk=patient.pk).exists()
    erasure = Erasure.objects.get(user_id=patient.pk)
    assert erasure.account_deleted
    assert len(erasure.shredded_key_ids) == 1


def test_a_deleted_patients_backup_cannot_be_decrypted_by_a_fresh_client(tmp_path: Path) -> None:
    patient, other = make_user(username="dora-backup"), make_user(username="olaf-backup")
    client = signed_in(patient)
    send(client, SECRET)
    send(signed_in(other), "Olaf's rash is on the elbow")
    backups.backup_changed_sessions(directory=str(tmp_path / "backup"))
    files = {path.parent.name: path.read_bytes() for path in (tmp_path / "backup").rglob("*.json")}

    assert delete_account(client).status_code == 200

    crypto.reset()  # a fresh client: nothing cached
    with pytest.raises(crypto.PatientKeyErased):
        crypto.open_file(files[str(patient.pk)])
    assert b"elbow" in crypto.open_file(files[str(other.pk)])


def test_no_outbox_entry_of_a_deleted_account_is_kept_or_delivered() -> None:
    patient = make_user(username="dora-outbox")
    client = signed_in(patient)
    sent = send(client, SECRET)
    outbox.enqueue_vote(user_id=patient.pk, message_id=str(uuid.uuid4()), vote_type="up", reason="psoriasis")

    assert delete_account(client).status_code == 200
    assert not OutboxEntry.objects.filter(user_id=patient.pk).exists()
    # a write of a request still in flight when the account went: never delivered
    late = outbox.enqueue_session(
        user_id=patient.pk, session_id=sent["session_id"], channel="api", created_at=timezone.now()
    )
    outbox.drain()

    assert not OutboxEntry.objects.filter(pk=late.pk).exists()
    assert raw_documents(ChatSession, patient.pk) == []


def test_a_legal_hold_keeps_the_held_chats_and_the_key_and_says_so() -> None:
    patient = make_user(username="dora-hold")
    client = signed_in(patient)
    held = send(client, SECRET)
    send(client, "A second conversation about my knee")
    services.set_legal_hold(
        session=selectors.get_session(user_id=patient.pk, session_id=held["session_id"]), hold=True
    )

    response = delete_account(client)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["deleted"], body["completed"], body["kept"]) == (True, True, 1)
    assert "legal hold" in body["detail"]
    assert "encryption key" in body["detail"]
    assert crypto.patient_key_exists(patient.pk)
    assert [document["session_id"] for document in raw_documents(ChatSession, patient.pk)] == [
        held["session_id"]
    ]
    assert Erasure.objects.get(user_id=patient.pk).shredded_key_ids == []
    crypto.reset()
    kept = selectors.get_session(user_id=patient.pk, session_id=held["session_id"], include_deleted=True)
    assert kept.deleted_at is not None
    assert not User.objects.filter(pk=patient.pk).exists()


def test_a_wrong_password_deletes_nothing() -> None:
    patient = make_user(username="dora-wrong")
    client = signed_in(patient)
    send(client, SECRET)

    response = delete_account(client, password="not my password")

    assert response.status_code == 400
    assert User.objects.get(pk=patient.pk).is_active
    assert ApiToken.objects.filter(user_id=patient.pk).exists()
    assert raw_documents(ChatMessage, patient.pk)
    assert crypto.patient_key_exists(patient.pk)


def test_deleting_a_user_in_the_admin_erases_their_chats_and_destroys_the_key() -> None:
    from django.test import Client
    from django.urls import reverse

    patient = make_user(username="dora-admin")
    send(signed_in(patient), SECRET)
    browser = Client()
    browser.force_login(make_user(username="root-admin", is_staff=True, is_superuser=True))

    response = browser.post(reverse("admin:accounts_user_delete", args=[patient.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not User.objects.filter(pk=patient.pk).exists()
    assert raw_documents(ChatMessage, patient.pk) == []
    assert not crypto.patient_key_exists(patient.pk)


def test_a_write_that_lands_after_the_account_erasure_is_erased_by_its_second_pass() -> None:
    """A request already past authentication when the account is deleted may still store a
    conversation (and, with no cached key, make a new data key) after the eraser listed the
    sessions: the erasure's second pass, once every such request has ended, removes it."""
    patient = make_user(username="late-write")
    client = signed_in(patient)
    send(client, SECRET)
    assert delete_account(client).status_code == 200
    late = services.start_session(user_id=patient.pk)  # what the in-flight request stores
    services.append_message(session=late, role="user", content=SECRET)
    assert crypto.patient_key_exists(patient.pk)

    with override_settings(CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS=0):
        services.complete_pending_erasures()

    for model in (ChatSession, ChatMessage, SearchTerm):
        assert raw_documents(model, patient.pk) == [], model
    assert not crypto.patient_key_exists(patient.pk)
    assert Erasure.objects.get(user_id=patient.pk).rechecked_at is not None


def test_the_second_pass_waits_until_in_flight_requests_have_ended() -> None:
    patient = make_user(username="early-check")
    client = signed_in(patient)
    send(client, SECRET)
    assert delete_account(client).status_code == 200
    late = services.start_session(user_id=patient.pk)

    with override_settings(CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS=3600):
        services.complete_pending_erasures()

    assert selectors.get_session(user_id=patient.pk, session_id=late.session_id).pk == late.pk
    assert Erasure.objects.get(user_id=patient.pk).rechecked_at is None
