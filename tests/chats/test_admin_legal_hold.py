"""Placing or lifting a legal hold in the admin needs ``accounts.manage_legal_hold``, like the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from chats import services
from chats.models import ChatSession
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

CHANGELIST = "/admin/chats/chatsession/"
SESSION_EDITOR = ("chats.view_chatsession", "chats.change_chatsession", "accounts.read_patient_chats")


def _staff_client(username: str, *permissions: str) -> Client:
    user = make_user(username=username, is_staff=True, role=User.Role.STAFF)
    for codename in permissions:
        app_label, _, name = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def editor() -> Client:
    """May change sessions, not holds."""
    return _staff_client("hold-editor", *SESSION_EDITOR)


@pytest.fixture
def officer() -> Client:
    return _staff_client("hold-officer", *SESSION_EDITOR, "accounts.manage_legal_hold")


def _act(client: Client, action: str, session: ChatSession) -> None:
    client.post(CHANGELIST, {"action": action, "_selected_action": [str(session.pk)]})


def _hold_events() -> list[tuple[str, str, int | None]]:
    return list(
        AuditEvent.objects.filter(object_type="chats.chatsession", action=AuditEvent.Action.CHANGE)
        .order_by("sequence")
        .values_list("object_id", "detail", "actor_id")
    )


def test_without_the_permission_the_hold_actions_are_not_offered(editor: Client) -> None:
    session = session_with_messages(user_id=make_user(username="hold-patient-a").pk, messages=1)

    changelist = editor.get(CHANGELIST).content.decode()
    page = editor.get(f"{CHANGELIST}{session.pk}/change/").content.decode()

    assert 'value="archive"' in changelist
    assert 'value="set_legal_hold"' not in changelist
    assert 'value="clear_legal_hold"' not in changelist
    assert 'value="set_legal_hold"' not in page


def test_without_the_permission_a_forged_hold_post_changes_nothing(editor: Client) -> None:
    free = session_with_messages(user_id=make_user(username="hold-patient-b").pk, messages=1)
    held = session_with_messages(user_id=make_user(username="hold-patient-c").pk, messages=1)
    services.set_legal_hold(session=held, hold=True)

    _act(editor, "set_legal_hold", free)
    _act(editor, "clear_legal_hold", held)

    assert ChatSession.objects.get(pk=free.pk).legal_hold is False
    assert ChatSession.objects.get(pk=held.pk).legal_hold is True
    assert _hold_events() == []


def test_the_session_form_cannot_set_the_hold(editor: Client) -> None:
    session = session_with_messages(user_id=make_user(username="hold-patient-d").pk, title="Before")

    editor.post(
        f"{CHANGELIST}{session.pk}/change/",
        {
            "title": "After",
            "session_type": session.session_type,
            "channel": session.channel,
            "tags": "[]",
            "metadata": "{}",
            "is_active": "on",
            "legal_hold": "on",
        },
    )

    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.title, stored.legal_hold) == ("After", False)


def test_with_the_permission_placing_and_lifting_a_hold_works_and_is_audited(officer: Client) -> None:
    session = session_with_messages(user_id=make_user(username="hold-patient-e").pk, messages=1)

    page = officer.get(f"{CHANGELIST}{session.pk}/change/").content.decode()
    _act(officer, "set_legal_hold", session)
    placed = ChatSession.objects.get(pk=session.pk).legal_hold
    _act(officer, "clear_legal_hold", session)

    assert 'value="set_legal_hold"' in page
    assert (placed, ChatSession.objects.get(pk=session.pk).legal_hold) == (True, False)
    officer_id = User.objects.get(username="hold-officer").pk
    assert _hold_events() == [
        (session.session_id, "legal hold placed", officer_id),
        (session.session_id, "legal hold lifted", officer_id),
    ]
