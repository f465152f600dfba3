"""An erasure that cannot complete now answers 202 with a status URL; its owner alone can follow it."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError
from rest_framework.test import APIClient

from chats import services
from chats.outbox import services as outbox
from chats.services import erasure
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def _client(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def store_down(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The chat store stops answering just as the erasure's deletion starts."""

    def unreachable(**kwargs: Any) -> Any:
        raise ServerSelectionTimeoutError("chat store unreachable")

    monkeypatch.setattr(erasure, "clear_user_chats", unreachable)
    monkeypatch.setattr(erasure, "delete_session_permanently", unreachable)
    return monkeypatch


def test_a_clear_all_that_cannot_complete_answers_202_with_a_status_url(store_down: Any) -> None:
    patient = make_user(username="status-clear")
    session_with_messages(user_id=patient.pk, messages=2)
    client = _client(patient)

    accepted = client.delete("/api/chat-history/clear-all")
    status = client.get(accepted.json()["status_url"])

    assert (accepted.status_code, accepted.json()["completed"]) == (202, False)
    assert accepted.json()["status_url"].endswith(f"/api/chat/erasures/{accepted.json()['erasure_id']}")
    assert status.status_code == 200
    body = status.json()
    assert (body["erasure_id"], body["scope"], body["session_id"]) == (
        accepted.json()["erasure_id"],
        "all",
        "",
    )
    assert (body["completed"], body["completed_at"], body["kept"]) == (False, None, [])
    assert body["requested_at"]


def test_a_permanent_delete_that_cannot_complete_answers_202_with_a_status_url(store_down: Any) -> None:
    patient = make_user(username="status-permanent")
    session = session_with_messages(user_id=patient.pk, messages=2)
    client = _client(patient)

    accepted = client.delete(f"/api/chat/sessions/{session.session_id}/permanent")
    body = client.get(accepted.json()["status_url"]).json()

    assert accepted.status_code == 202
    assert (body["scope"], body["session_id"], body["completed"]) == ("session", session.session_id, False)


def test_a_pending_erasure_shows_as_completed_once_the_store_is_back(store_down: Any) -> None:
    patient = make_user(username="status-later")
    session_with_messages(user_id=patient.pk, messages=1)
    client = _client(patient)
    status_url = client.delete("/api/chat-history/clear-all").json()["status_url"]

    store_down.undo()
    outbox.drain()
    body = client.get(status_url).json()

    assert body["completed"] is True
    assert body["completed_at"] is not None


def test_the_status_says_what_a_legal_hold_kept_and_why() -> None:
    patient = make_user(username="status-held")
    held = session_with_messages(user_id=patient.pk, messages=1)
    session_with_messages(user_id=patient.pk, messages=1)
    services.set_legal_hold(session=held, hold=True)
    client = _client(patient)

    done = client.delete("/api/chat-history/clear-all")
    body = client.get(done.json()["status_url"]).json()

    assert done.status_code == 200
    assert (body["completed"], body["kept"]) == (True, [held.session_id])
    assert "legal hold" in body["kept_reason"]


def test_someone_elses_erasure_is_404_and_shows_nothing(store_down: Any) -> None:
    patient = make_user(username="status-owner")
    session = session_with_messages(user_id=patient.pk, messages=1)
    accepted = _client(patient).delete(f"/api/chat/sessions/{session.session_id}/permanent").json()

    response = _client(make_user(username="status-intruder")).get(accepted["status_url"])

    assert response.status_code == 404
    assert session.session_id not in response.content.decode()


@pytest.mark.parametrize("erasure_id", ["0", "99999", str(2**70)])
def test_an_unknown_erasure_id_is_404(erasure_id: str) -> None:
    response = _client(make_user(username="status-unknown")).get(f"/api/chat/erasures/{erasure_id}")

    assert response.status_code == 404
