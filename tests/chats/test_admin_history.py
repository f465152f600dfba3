"""An object's admin history page names the object: for a session that is its title (the patient's
first message), so it is a conversation read like the session page — permission and one audit event."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from chats.models import ChatMessage
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

TITLE = "my private question about lithium"


def _staff_client(username: str, *permissions: str) -> Client:
    user = make_user(username=username, is_staff=True, role=User.Role.STAFF)
    for codename in permissions:
        app_label, _, name = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    client = Client()
    client.force_login(user)
    return client


def _events() -> list[tuple[str, str, str, str, str]]:
    return list(
        AuditEvent.objects.order_by("sequence").values_list(
            "action", "object_type", "object_id", "outcome", "detail"
        )
    )


def test_a_session_history_page_without_read_patient_chats_is_403_and_the_refusal_is_audited() -> None:
    client = _staff_client("history-editor", "chats.view_chatsession", "chats.change_chatsession")
    session = session_with_messages(user_id=make_user(username="history-patient-a").pk, title=TITLE)

    response = client.get(f"/admin/chats/chatsession/{session.pk}/history/")

    assert response.status_code == 403
    assert TITLE not in response.content.decode()
    assert _events() == [("read", "chats.chatsession", session.session_id, "denied", "")]


def test_a_session_history_page_read_with_the_permission_is_one_audit_event() -> None:
    client = _staff_client("history-reader", "chats.view_chatsession", "accounts.read_patient_chats")
    session = session_with_messages(user_id=make_user(username="history-patient-b").pk, title=TITLE)

    response = client.get(f"/admin/chats/chatsession/{session.pk}/history/")

    assert response.status_code == 200
    assert TITLE in response.content.decode()
    assert _events() == [("read", "chats.chatsession", session.session_id, "ok", "change history")]


def test_a_message_history_page_needs_read_patient_chats() -> None:
    client = _staff_client("history-viewer", "chats.view_chatmessage")
    session = session_with_messages(user_id=make_user(username="history-patient-c").pk, messages=1)
    message = ChatMessage.objects.get(session_id=session.pk)

    assert client.get(f"/admin/chats/chatmessage/{message.pk}/history/").status_code == 403


def test_a_message_history_page_read_with_the_permission_is_one_audit_event() -> None:
    client = _staff_client("history-message-reader", "chats.view_chatmessage", "accounts.read_patient_chats")
    session = session_with_messages(user_id=make_user(username="history-patient-d").pk, messages=1)
    message = ChatMessage.objects.get(session_id=session.pk)

    response = client.get(f"/admin/chats/chatmessage/{message.pk}/history/")

    assert response.status_code == 200
    assert _events() == [("read", "chats.chatmessage", message.message_id, "ok", "change history")]
