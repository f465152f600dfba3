"""``GET /api/audit/me``: the caller's log of who accessed their data — and nobody else's."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_owner_sees_who_accessed_their_data_newest_first() -> None:
    owner, other = make_user(username="olivia"), make_user()
    clinician = make_user(username="dr-grey", role=User.Role.CLINICIAN)
    services.record_access(
        actor=clinician, action="read", object_type="ehr.allergy", object_id=5, owner_id=owner.pk
    )
    services.record_access(
        actor=clinician,
        action="change",
        object_type="ehr.allergy",
        object_id=5,
        owner_id=owner.pk,
        outcome="ok",
    )
    services.record_access(
        actor=clinician, action="read", object_type="ehr.allergy", object_id=6, owner_id=other.pk
    )
    body = _client(owner).get("/api/audit/me").json()
    assert [
        (row["actor"], row["actor_role"], row["action"], row["object_id"]) for row in body["results"]
    ] == [
        ("dr-grey", "clinician", "change", "5"),
        ("dr-grey", "clinician", "read", "5"),
    ]
    assert set(body["results"][0]) == {
        "sequence",
        "created_at",
        "actor",
        "actor_role",
        "action",
        "object_type",
        "object_id",
        "detail",
        "outcome",
    }


def test_the_log_is_paginated() -> None:
    owner, actor = make_user(), make_user()
    accesses = [services.Access("read", "chats.chatsession", f"s{n}", owner.pk) for n in range(5)]
    services.record_accesses(actor=actor, accesses=accesses)
    first = _client(owner).get("/api/audit/me?page_size=3").json()
    assert [row["object_id"] for row in first["results"]] == ["s4", "s3", "s2"]
    second = _client(owner).get(first["next"]).json()
    assert [row["object_id"] for row in second["results"]] == ["s1", "s0"]


def test_system_jobs_show_without_an_actor() -> None:
    owner = make_user()
    services.record_access(
        actor=None, action="create", object_type="ehr.allergy", object_id=1, owner_id=owner.pk
    )
    assert _client(owner).get("/api/audit/me").json()["results"][0]["actor"] is None


def test_a_malformed_cursor_is_a_400() -> None:
    assert _client(make_user()).get("/api/audit/me?cursor=nonsense").status_code == 400


def test_anonymous_is_401() -> None:
    assert _client(None).get("/api/audit/me").status_code == 401
