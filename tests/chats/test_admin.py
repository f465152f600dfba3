"""The admin across both databases, through Django's test client."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.models import AuditEvent
from chats import services
from chats.models import ChatMessage, ChatSession
from chats.outbox import services as outbox
from chats.outbox.models import OutboxEntry
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def admin_client_for_staff() -> Client:
    client = Client()
    client.force_login(
        make_user(username="root-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


def test_every_chat_changelist_loads(admin_client_for_staff: Client) -> None:
    owner = make_user(username="patient-one")
    session = session_with_messages(user_id=owner.pk, messages=2, title="Headache")
    for path in ["chatsession", "chatmessage", "tokenusage", "messagevote", "dailychatstats"]:
        response = admin_client_for_staff.get(f"/admin/chats/{path}/")
        assert response.status_code == 200, path
    page = admin_client_for_staff.get("/admin/chats/chatsession/").content.decode()
    assert "patient-one" in page
    assert "Headache" in page
    detail = admin_client_for_staff.get(f"/admin/chats/chatsession/{session.pk}/change/")
    assert detail.status_code == 200
    message = ChatMessage.objects.filter(session_id=session.pk).first()
    assert message is not None
    assert admin_client_for_staff.get(f"/admin/chats/chatmessage/{message.pk}/change/").status_code == 200


def test_users_changelist_shows_chat_counts(admin_client_for_staff: Client) -> None:
    owner = make_user(username="counted")
    session_with_messages(user_id=owner.pk, messages=3)
    page = admin_client_for_staff.get("/admin/accounts/user/").content.decode()
    assert "1 sessions, 3 messages" in page


def test_search_filter_and_owner_link(admin_client_for_staff: Client) -> None:
    owner = make_user(username="searcher")
    wanted = session_with_messages(user_id=owner.pk, title="Migraine notes")
    session_with_messages(user_id=owner.pk, title="Other")
    services.set_archived(session=wanted, archived=True)
    by_title = admin_client_for_staff.get("/admin/chats/chatsession/?q=migraine").content.decode()
    assert "Migraine notes" in by_title
    assert "Other" not in by_title
    archived = admin_client_for_staff.get("/admin/chats/chatsession/?is_archived__exact=1").content.decode()
    assert "Migraine notes" in archived
    assert "Other" not in archived
    assert admin_client_for_staff.get(f"/admin/chats/chatsession/?user_id={owner.pk}").status_code == 200
    messages = admin_client_for_staff.get(f"/admin/chats/chatmessage/?session__id__exact={wanted.pk}")
    assert messages.status_code == 200


def test_session_actions_go_through_services(admin_client_for_staff: Client) -> None:
    owner = make_user(username="acted")
    session = session_with_messages(user_id=owner.pk, messages=1)

    def act(action: str) -> None:
        admin_client_for_staff.post(
            "/admin/chats/chatsession/", {"action": action, "_selected_action": [str(session.pk)]}
        )

    act("set_legal_hold")
    assert ChatSession.objects.get(pk=session.pk).legal_hold is True
    act("soft_delete")
    assert ChatSession.objects.get(pk=session.pk).deleted_at is not None
    act("restore")
    assert ChatSession.objects.get(pk=session.pk).deleted_at is None
    act("archive")
    assert ChatSession.objects.get(pk=session.pk).is_archived is True
    exported = admin_client_for_staff.post(
        "/admin/chats/chatsession/", {"action": "export_json", "_selected_action": [str(session.pk)]}
    )
    body = b"".join(exported.streaming_content)  # type: ignore[attr-defined]
    assert body.count(b'"content": "message 1 of the session"') == 1


def test_changelist_query_count_is_bounded(admin_client_for_staff: Client) -> None:
    def counted() -> tuple[int, int]:
        with (
            CaptureQueriesContext(connections["default"]) as mysql,
            CaptureQueriesContext(connections["chats"]) as mongo,
        ):
            assert admin_client_for_staff.get("/admin/chats/chatsession/").status_code == 200
        return len(mysql), len(mongo)

    owner = make_user(username="many")
    session_with_messages(user_id=owner.pk)
    small = counted()
    for number in range(20):
        session_with_messages(user_id=make_user(username=f"many{number}").pk)
    assert counted() == small


def test_outbox_admin_lists_and_retries_failed_entries(admin_client_for_staff: Client) -> None:
    entry = outbox.enqueue_vote(user_id=1, message_id="missing", vote_type="up", reason="")
    outbox.drain()
    assert OutboxEntry.objects.get(pk=entry.pk).status == OutboxEntry.Status.FAILED
    page = admin_client_for_staff.get(
        "/admin/chats_outbox/outboxentry/?status__exact=failed"
    ).content.decode()
    assert "missing" in page
    admin_client_for_staff.post(
        "/admin/chats_outbox/outboxentry/", {"action": "retry", "_selected_action": [str(entry.pk)]}
    )
    assert OutboxEntry.objects.get(pk=entry.pk).status == OutboxEntry.Status.PENDING


def _audit_events() -> list[tuple[str, str, str, int | None]]:
    return list(
        AuditEvent.objects.order_by("sequence").values_list("action", "object_type", "object_id", "owner_id")
    )


def test_session_pages_audit_one_read_per_owner_naming_the_sessions_shown(
    admin_client_for_staff: Client,
) -> None:
    owner = make_user(username="watched")
    session = session_with_messages(user_id=owner.pk, messages=1)
    other = session_with_messages(user_id=owner.pk)
    admin_client_for_staff.get("/admin/chats/chatsession/")
    admin_client_for_staff.get(f"/admin/chats/chatsession/{session.pk}/change/")
    assert _audit_events() == [
        ("read", "chats.chatsession", "", owner.pk),
        ("read", "chats.chatsession", session.session_id, owner.pk),
    ]
    listed, opened = AuditEvent.objects.order_by("sequence")
    assert listed.detail.startswith("chat sessions shown (2): ")
    assert {session.session_id, other.session_id} <= set(listed.detail.split(": ", 1)[1].split(", "))
    assert opened.detail == "messages 1-1 of 1"


def test_message_pages_audit_one_read_per_owner_naming_the_messages_shown(
    admin_client_for_staff: Client,
) -> None:
    owner = make_user(username="quoted")
    session = session_with_messages(user_id=owner.pk, messages=2)
    admin_client_for_staff.get(f"/admin/chats/chatmessage/?session__id__exact={session.pk}")
    shown = {message.message_id for message in ChatMessage.objects.filter(session_id=session.pk)}
    (event,) = AuditEvent.objects.all()
    assert (event.object_type, event.object_id, event.owner_id) == ("chats.chatmessage", "", owner.pk)
    assert set(event.detail.split(": ", 1)[1].split(", ")) == shown


def test_session_actions_audit_exports_changes_and_deletes(admin_client_for_staff: Client) -> None:
    owner = make_user(username="handled")
    session = session_with_messages(user_id=owner.pk, messages=1)
    for action in ["export_csv", "archive", "soft_delete"]:
        admin_client_for_staff.post(
            "/admin/chats/chatsession/", {"action": action, "_selected_action": [str(session.pk)]}
        )
    assert _audit_events() == [
        ("export", "chats.chatsession", session.session_id, owner.pk),
        ("change", "chats.chatsession", session.session_id, owner.pk),
        ("delete", "chats.chatsession", session.session_id, owner.pk),
    ]


def test_saving_a_session_in_the_admin_is_audited_as_a_change(admin_client_for_staff: Client) -> None:
    owner = make_user(username="renamed")
    session = session_with_messages(user_id=owner.pk, title="Before")
    admin_client_for_staff.post(
        f"/admin/chats/chatsession/{session.pk}/change/",
        {
            "title": "After",
            "session_type": session.session_type,
            "channel": session.channel,
            "tags": "[]",
            "metadata": "{}",
            "is_active": "on",
        },
    )
    assert ChatSession.objects.get(pk=session.pk).title == "After"
    assert ("change", "chats.chatsession", session.session_id, owner.pk) in _audit_events()


def test_users_changelist_audits_the_chat_counts_shown(admin_client_for_staff: Client) -> None:
    owner = make_user(username="counted-user")
    admin_client_for_staff.get("/admin/accounts/user/")
    assert _audit_events() == [("read", "chats.chat_counts", str(owner.pk), owner.pk)]


@pytest.mark.django_db(databases=["default", "chats"], transaction=True)
def test_migration_runs_and_quarantined_rows_are_browsable_and_read_only(
    admin_client_for_staff: Client, tmp_path: Path
) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from chats.models import MigrationRun, QuarantinedRow

    store = tmp_path / "store"
    shutil.copytree(Path(__file__).parent / "importer_fixtures" / "hybrid_store", store)
    # Other tests' runs may still be in the chats store (a non-transactional test's import is not
    # rolled back there): read the run this command made, not "the" json run.
    earlier_runs = list(MigrationRun.objects.values_list("id", flat=True))
    with pytest.raises(CommandError, match="quarantined"):
        call_command("migrate_chats", "--source", "json", "--path", str(store), verbosity=0)
    run = MigrationRun.objects.exclude(id__in=earlier_runs).get(source="json")
    quarantined = QuarantinedRow.objects.get(run_id=run.id, key="file:broken.json")

    runs_page = admin_client_for_staff.get("/admin/chats/migrationrun/")
    rows_page = admin_client_for_staff.get("/admin/chats/quarantinedrow/?reason=unparseable+JSON")
    detail = admin_client_for_staff.get(f"/admin/chats/quarantinedrow/{quarantined.pk}/change/")

    assert runs_page.status_code == 200
    assert run.id in runs_page.content.decode()
    assert run.state == "finished"
    assert run.counts["quarantined"] == QuarantinedRow.objects.filter(run_id=run.id).count() > 0
    assert rows_page.status_code == 200
    assert "file:broken.json" in rows_page.content.decode()
    assert detail.status_code == 200
    assert "Save" not in detail.content.decode()
    assert (
        admin_client_for_staff.post(f"/admin/chats/quarantinedrow/{quarantined.pk}/delete/").status_code
        == 403
    )
    assert QuarantinedRow.objects.filter(pk=quarantined.pk).exists()
