"""The audit log in the admin: filterable by actor, owner, action, outcome and date, searchable by person."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from audit import services
from audit.models import AuditEvent
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def events() -> dict[str, User]:
    people = {
        "nurse": make_user(username="nurse-ann", is_staff=True),
        "clerk": make_user(username="clerk-bob", is_staff=True),
        "alice": make_user(username="alice-patient"),
        "carol": make_user(username="carol-patient"),
    }
    services.record_access(
        actor=people["nurse"],
        action="read",
        object_type="chats.chatsession",
        object_id="s-alice",
        owner_id=people["alice"].pk,
    )
    services.record_access(
        actor=people["clerk"],
        action="export",
        object_type="chats.chatsession",
        object_id="s-carol",
        owner_id=people["carol"].pk,
        outcome=AuditEvent.Outcome.DENIED,
    )
    return people


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(
        make_user(username="audit-admin", is_staff=True, is_superuser=True, role=User.Role.STAFF)
    )
    return client


def _rows(client: Client, query: dict[str, str]) -> set[str]:
    response = client.get("/admin/audit/auditevent/", query)
    assert response.status_code == 200
    page = response.content.decode()
    return {object_id for object_id in ("s-alice", "s-carol") if object_id in page}


def test_audit_log_filters_by_actor_and_owner(staff_client: Client, events: dict[str, User]) -> None:
    assert _rows(staff_client, {"actor": "nurse-ann"}) == {"s-alice"}
    assert _rows(staff_client, {"owner": "carol-patient"}) == {"s-carol"}
    assert _rows(staff_client, {"owner": str(events["alice"].pk)}) == {"s-alice"}
    assert _rows(staff_client, {"actor": "nurse-ann", "owner": "carol-patient"}) == set()


def test_audit_log_filters_by_action_and_outcome(staff_client: Client, events: dict[str, User]) -> None:
    assert _rows(staff_client, {"action__exact": "export"}) == {"s-carol"}
    assert _rows(staff_client, {"outcome__exact": "denied"}) == {"s-carol"}


def test_audit_log_search_takes_a_username_as_actor_or_owner(
    staff_client: Client, events: dict[str, User]
) -> None:
    assert _rows(staff_client, {"q": "clerk-bob"}) == {"s-carol"}
    assert _rows(staff_client, {"q": "alice-patient"}) == {"s-alice"}
    assert _rows(staff_client, {"q": "s-alice"}) == {"s-alice"}


def test_audit_log_has_a_date_hierarchy_and_names_people(
    staff_client: Client, events: dict[str, User]
) -> None:
    page = staff_client.get("/admin/audit/auditevent/").content.decode()
    assert "?created_at__year=" in page
    assert f"nurse-ann (#{events['nurse'].pk})" in page
    assert f"alice-patient (#{events['alice'].pk})" in page


def test_a_listing_too_long_for_one_event_is_split_and_names_every_row() -> None:
    from audit.admin_access import per_owner_reads
    from audit.models import MAX_DETAIL_CHARS

    ids = [f"{n:036d}" for n in range(250)]
    accesses = per_owner_reads(
        object_type="chats.chatmessage", rows=[(7, i) for i in ids] + [(8, "x")], noun="messages"
    )

    assert [a.owner_id for a in accesses] == [7, 7, 7, 8]
    assert all(len(a.detail) <= MAX_DETAIL_CHARS for a in accesses)
    named = [i for a in accesses if a.owner_id == 7 for i in a.detail.split(": ", 1)[1].split(", ")]
    assert named == ids
