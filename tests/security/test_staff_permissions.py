"""Staff routes need explicit permissions (groups "Support" and "Privacy officer"), not is_staff;
every staff read, cleanup and sync leaves an audit event."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from accounts.models import User
from audit.models import AuditEvent
from tests.factories import make_staff, make_user
from tests.security.conftest import client_for

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

STAFF_ROUTES: list[tuple[str, str]] = [
    ("get", "/api/chat/statistics/global"),
    ("post", "/api/chat/cleanup?dry_run=true"),
    ("post", "/api/chat/sync"),
    ("get", "/api/chat/sync/some-task"),
    ("get", "/api/admin/users"),
    ("get", "/api/admin/users/{user_id}/conversations"),
    ("get", "/api/admin/stats"),
    ("get", "/api/admin/latest-chats"),
]


def _call(user: User, method: str, url: str) -> Any:
    return getattr(client_for(user), method)(url.format(user_id=user.pk))


@pytest.mark.parametrize(("method", "url"), STAFF_ROUTES)
def test_is_staff_without_permissions_is_403_on_every_staff_route(method: str, url: str) -> None:
    flag_only = make_user(username="flag-only", is_staff=True, role=User.Role.STAFF)

    assert _call(flag_only, method, url).status_code == 403


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/api/admin/users", 200),
        ("/api/admin/stats", 200),
        ("/api/admin/latest-chats", 403),
        ("/api/admin/users/{user_id}/conversations", 403),
    ],
)
def test_support_reads_the_directory_and_statistics_but_no_patient_chats(url: str, status: int) -> None:
    support = make_staff(username="support", groups=("Support",))

    assert _call(support, "get", url).status_code == status


def test_privacy_officer_reads_patient_chats() -> None:
    officer = make_staff(username="officer", groups=("Privacy officer",))

    assert _call(officer, "get", "/api/admin/latest-chats").status_code == 200


def test_a_permission_without_is_staff_is_not_enough() -> None:
    officer = make_staff(username="not-staff-any-more", groups=("Privacy officer",))
    officer.is_staff = False
    officer.save(update_fields=["is_staff"])

    assert _call(officer, "get", "/api/admin/latest-chats").status_code == 403


def test_cleanup_writes_an_audit_event() -> None:
    officer = make_staff(username="cleaner", groups=("Privacy officer",))

    response = client_for(officer).post("/api/chat/cleanup?days_old=30")

    assert response.status_code == 200
    event = AuditEvent.objects.get(actor_id=officer.pk)
    assert (event.action, event.object_type) == ("delete", "chats.retention")


@override_settings(CHAT_BACKUP_DIR="")
def test_sync_status_read_writes_an_audit_event() -> None:
    support = make_staff(username="syncer", groups=("Support",))

    response = client_for(support).get("/api/chat/sync/task-123")

    assert response.status_code == 200
    event = AuditEvent.objects.get(actor_id=support.pk)
    assert (event.action, event.object_type, event.object_id) == ("read", "chats.import", "task-123")


def test_the_data_migration_creates_both_groups_with_their_permissions() -> None:
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group
    from django.db import connection

    Group.objects.all().delete()
    migration = importlib.import_module("accounts.migrations.0004_staff_groups")
    migration.create_groups(apps, connection.schema_editor())

    assert {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=["Support", "Privacy officer"])
    } == {
        "Support": ["read_chat_statistics", "run_chat_sync", "view_user_directory"],
        "Privacy officer": [
            "manage_legal_hold",
            "read_chat_statistics",
            "read_patient_chats",
            "run_chat_cleanup",
            "view_user_directory",
        ],
    }
