"""Small PHI-lifecycle guarantees: audited outbox deletions in the admin, strict public ids."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from chats.outbox import services as outbox
from chats.outbox.models import OutboxEntry
from chats.services import PUBLIC_ID
from tests.factories import make_user


@pytest.mark.parametrize("value", ["abc\n", "abc\n\n", "\nabc"])
def test_a_public_id_with_a_newline_is_refused(value: str) -> None:
    assert PUBLIC_ID.match(value) is None


def test_a_plain_public_id_is_accepted() -> None:
    assert PUBLIC_ID.match("legacy-42:a.b_c") is not None


@pytest.mark.django_db
def test_deleting_an_outbox_entry_in_the_admin_is_audited() -> None:
    patient = make_user(username="queued-patient")
    entry = outbox.enqueue_message(
        user_id=patient.pk,
        session_id=str(uuid.uuid4()),
        message_id=str(uuid.uuid4()),
        role="user",
        content="accepted but not yet stored",
        created_at=timezone.now(),
    )
    admin = make_user(username="root", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(f"/admin/chats_outbox/outboxentry/{entry.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not OutboxEntry.objects.filter(pk=entry.pk).exists()
    deleted = AuditEvent.objects.filter(actor_id=admin.pk, action="delete")
    assert [(e.object_type, e.owner_id) for e in deleted] == [("chats_outbox.outboxentry", patient.pk)]
