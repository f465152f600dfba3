"""``/shared/<session_id>``: only a clinician the conversation is shared with gets the page."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from chats.services import sharing
from tests.chats.factories import session_with_messages
from tests.ehr.factories import make_clinician, make_profile
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def browser_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def shared_path() -> str:
    clinician = make_clinician(username="dr-grey")
    patient = make_user(username="pat")
    make_profile(user=patient, clinicians=[clinician])
    make_clinician(username="dr-who")
    session = session_with_messages(user_id=patient.pk, messages=2)
    sharing.share_session(user=patient, session_id=session.session_id)
    return f"/shared/{session.session_id}"


def test_the_assigned_clinician_gets_the_read_only_page(shared_path: str) -> None:
    response = browser_of(User.objects.get(username="dr-grey")).get(shared_path)

    assert response.status_code == 200
    assert b'id="message-input"' not in response.content
    assert b"web/shared.js" in response.content


@pytest.mark.parametrize("username", ["dr-who", "pat"])
def test_anyone_else_gets_not_found(shared_path: str, username: str) -> None:
    response = browser_of(User.objects.get(username=username)).get(shared_path)

    assert response.status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(shared_path: str) -> None:
    response = Client().get(shared_path)

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
