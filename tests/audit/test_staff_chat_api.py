"""The staff chat API routes audit every read of someone else's chats."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from tests.chats.factories import session_with_messages
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def staff() -> User:
    return make_staff(username="sam-staff")


@pytest.fixture
def staff_api(staff: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(staff)
    return client


def _events() -> list[tuple[str, str, str, int | None]]:
    return list(
        AuditEvent.objects.order_by("sequence").values_list("action", "object_type", "object_id", "owner_id")
    )


def test_listing_a_users_conversations_audits_each_session_shown(staff_api: APIClient) -> None:
    owner = make_user()
    session = session_with_messages(user_id=owner.pk, messages=1)
    assert staff_api.get(f"/api/admin/users/{owner.pk}/conversations").status_code == 200
    assert _events() == [("read", "chats.chatsession", session.session_id, owner.pk)]


def test_listing_a_user_without_conversations_is_audited_as_a_list_read(staff_api: APIClient) -> None:
    owner = make_user()
    staff_api.get(f"/api/admin/users/{owner.pk}/conversations")
    assert _events() == [("read", "chats.chatsession", "", owner.pk)]


def test_latest_chats_audit_each_message_shown(staff_api: APIClient) -> None:
    owner = make_user()
    session_with_messages(user_id=owner.pk, messages=2)
    rows = staff_api.get("/api/admin/latest-chats").json()
    assert sorted(_events()) == sorted(
        ("read", "chats.chatmessage", row["message_id"], owner.pk) for row in rows
    )
    assert len(rows) == 2


def test_the_user_list_audits_the_chat_counts_of_each_other_user(staff_api: APIClient, staff: User) -> None:
    owner = make_user()
    staff_api.get("/api/admin/users")
    assert _events() == [
        ("read", "chats.chat_counts", str(owner.pk), owner.pk)
    ]  # the staff member's own: no event


def test_aggregate_statistics_are_audited_without_an_owner(staff_api: APIClient) -> None:
    staff_api.get("/api/admin/stats")
    assert _events() == [("read", "chats.statistics", "", None)]


def test_refused_non_staff_callers_leave_no_event() -> None:
    client = APIClient()
    client.force_authenticate(make_user())
    assert client.get("/api/admin/latest-chats").status_code == 403
    assert _events() == []
