"""Read-replica routing: lag-tolerant reads go to ``replica``; writes and everything else to the primary.

The test settings give ``replica`` a database of its own (on CI a second database on the local
MariaDB), so which database answered is visible: rows written only to one of them.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.db import transaction

from accounts.models import User
from accounts.services import ensure_staff_groups
from medibot.routers import lag_tolerant, start_unit_of_work

pytestmark = pytest.mark.django_db(databases=["default", "replica"], transaction=True)


@pytest.fixture(autouse=True)
def replica_reads_on(settings: Any) -> None:
    settings.REPLICA_READS = True
    start_unit_of_work()


def usernames() -> set[str]:
    return set(User.objects.values_list("username", flat=True))


def test_the_replica_is_a_separate_database_in_tests() -> None:
    assert settings.DATABASES["replica"]["TEST"].get("NAME") != settings.DATABASES["default"]["TEST"].get(
        "NAME"
    )


def test_lag_tolerant_reads_are_served_by_the_replica() -> None:
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    start_unit_of_work()

    with lag_tolerant():
        assert usernames() == {"only-on-replica"}
    assert usernames() == set()


def test_other_reads_stay_on_the_primary() -> None:
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    start_unit_of_work()

    assert usernames() == set()


def test_a_write_pins_the_rest_of_the_unit_of_work_to_the_primary() -> None:
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    start_unit_of_work()
    with lag_tolerant():
        User.objects.create_user(username="just-written")

        assert usernames() == {"just-written"}

    start_unit_of_work()
    with lag_tolerant():
        assert usernames() == {"only-on-replica"}


def test_writes_never_go_to_the_replica() -> None:
    with lag_tolerant():
        User.objects.create_user(username="primary-only")

    assert User.objects.using("default").filter(username="primary-only").exists()
    assert not User.objects.using("replica").filter(username="primary-only").exists()


def test_reads_inside_a_transaction_stay_on_the_primary() -> None:
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    start_unit_of_work()

    with transaction.atomic(), lag_tolerant():
        assert usernames() == set()


def test_each_request_starts_unpinned(client: object) -> None:
    from django.test import Client

    User.objects.create_user(username="writer")  # pins this thread's unit of work
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    assert isinstance(client, Client)

    client.get("/api/chat/health")  # a request resets the pin on entry

    with lag_tolerant():
        assert usernames() == {"only-on-replica"}


def test_replica_reads_can_be_switched_off(settings: Any) -> None:
    settings.REPLICA_READS = False
    User.objects.db_manager("replica").create_user(username="only-on-replica")

    with lag_tolerant():
        assert usernames() == set()


def test_the_staff_user_list_is_served_by_the_replica() -> None:
    from rest_framework.test import APIClient

    staff = User.objects.create_user(username="staff-on-primary", is_staff=True, role=User.Role.STAFF)
    staff.groups.set([ensure_staff_groups()["Support"]])
    User.objects.db_manager("replica").create_user(username="only-on-replica")
    client = APIClient()
    client.force_authenticate(staff)

    response = client.get("/api/admin/users")

    assert response.status_code == 200
    assert [row["username"] for row in response.json()["results"]] == ["only-on-replica"]
