"""Admin forms validate through the API's rules: bad input is an error on the form, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from chats.models import ChatSession
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def staff_client() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(
        make_user(username="form-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


def _post_session(client: Client, session: ChatSession, **overrides: str) -> tuple[int, str]:
    data = {
        "title": "Before",
        "session_type": session.session_type,
        "channel": session.channel,
        "tags": "[]",
        "metadata": "{}",
        "is_active": "on",
        **overrides,
    }
    response = client.post(f"/admin/chats/chatsession/{session.pk}/change/", data)
    return response.status_code, response.content.decode()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('{"a.b": 1}', "metadata keys must not start with"),
        ('{"$set": 1}', "metadata keys must not start with"),
        ('{"deep": {"$where": 1}}', "metadata keys must not start with"),
        ("[1, 2]", "metadata must be a JSON object"),
        ('{"n": 123456789012345678901234567890}', "integers"),
    ],
)
def test_invalid_session_metadata_is_a_form_error_not_a_500(
    staff_client: Client, metadata: str, message: str
) -> None:
    session = session_with_messages(user_id=make_user(username="meta-owner").pk, title="Before")
    status, page = _post_session(staff_client, session, metadata=metadata)
    assert status == 200
    assert "errornote" in page
    assert message in page
    assert ChatSession.objects.get(pk=session.pk).metadata == {}


def test_blank_title_is_a_form_error(staff_client: Client) -> None:
    session = session_with_messages(user_id=make_user(username="title-owner").pk, title="Before")
    status, page = _post_session(staff_client, session, title="   ")
    assert status == 200
    assert "title must not be empty" in page
    assert ChatSession.objects.get(pk=session.pk).title == "Before"


def test_invalid_tags_are_a_form_error(staff_client: Client) -> None:
    session = session_with_messages(user_id=make_user(username="tag-owner").pk, title="Before")
    status, page = _post_session(staff_client, session, tags=",".join(f"tag{n}" for n in range(21)))
    assert status == 200
    assert "tags must be a list of at most 20 strings" in page


def test_valid_session_form_saves_through_the_service(staff_client: Client) -> None:
    session = session_with_messages(user_id=make_user(username="ok-owner").pk, title="Before")
    status, _ = _post_session(staff_client, session, title="After", metadata='{"source": "admin"}')
    assert status == 302
    saved = ChatSession.objects.get(pk=session.pk)
    assert (saved.title, saved.metadata) == ("After", {"source": "admin"})
