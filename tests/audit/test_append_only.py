"""Audit events are append-only: the model, its querysets and the admin refuse changes and deletes."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from audit import services
from audit.models import AppendOnlyViolation, AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def event() -> AuditEvent:
    owner, actor = make_user(), make_user()
    recorded = services.record_access(
        actor=actor, action="read", object_type="ehr.allergy", object_id=1, owner_id=owner.pk
    )
    assert recorded is not None
    return AuditEvent.objects.get(sequence=recorded.sequence)


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(make_user(username="root", is_staff=True, is_superuser=True, role=User.Role.STAFF))
    return client


def test_a_stored_event_cannot_be_saved_again(event: AuditEvent) -> None:
    event.outcome = "denied"
    with pytest.raises(AppendOnlyViolation):
        event.save()


def test_a_stored_event_cannot_be_deleted(event: AuditEvent) -> None:
    with pytest.raises(AppendOnlyViolation):
        event.delete()


@pytest.mark.parametrize("operation", ["update", "delete", "bulk_update", "update_or_create"])
def test_querysets_refuse_bulk_changes(event: AuditEvent, operation: str) -> None:
    calls = {
        "update": lambda: AuditEvent.objects.filter(pk=event.pk).update(owner_id=0),
        "delete": lambda: AuditEvent.objects.all().delete(),
        "bulk_update": lambda: AuditEvent.objects.bulk_update([event], ["owner_id"]),
        "update_or_create": lambda: AuditEvent.objects.update_or_create(
            pk=event.pk, defaults={"owner_id": 0}
        ),
    }
    with pytest.raises(AppendOnlyViolation):
        calls[operation]()
    assert AuditEvent.objects.get(pk=event.pk).owner_id == event.owner_id


def test_the_admin_lists_and_shows_events_even_to_superusers_read_only(
    superuser_client: Client, event: AuditEvent
) -> None:
    page = superuser_client.get("/admin/audit/auditevent/")
    assert page.status_code == 200
    assert "ehr.allergy" in page.content.decode()
    assert superuser_client.get("/admin/audit/auditevent/?action__exact=read&q=1").status_code == 200
    detail = superuser_client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()


def test_the_admin_refuses_to_add_change_or_delete_events(
    superuser_client: Client, event: AuditEvent
) -> None:
    assert superuser_client.get("/admin/audit/auditevent/add/").status_code == 403
    assert (
        superuser_client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"owner_id": 5}).status_code
        == 403
    )
    assert (
        superuser_client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    superuser_client.post(
        "/admin/audit/auditevent/",
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )
    assert AuditEvent.objects.filter(pk=event.pk, owner_id=event.owner_id).exists()
