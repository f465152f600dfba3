"""The role matrix of the EHR API, route by route.

Read: the owner, an assigned clinician and staff; write: an assigned clinician only (the owner and
staff get 403); another patient and an unassigned clinician get 404 everywhere; anonymous 401.
"""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from ehr.models import PatientProfile
from tests.ehr.conftest import Ward, client_for

pytestmark = pytest.mark.django_db

ROLES = ["owner", "other_patient", "clinician", "unassigned_clinician", "staff", "anonymous"]
READ = {
    "owner": 200,
    "other_patient": 404,
    "clinician": 200,
    "unassigned_clinician": 404,
    "staff": 200,
    "anonymous": 401,
}
WRITE = {"owner": 403, "other_patient": 404, "unassigned_clinician": 404, "staff": 403, "anonymous": 401}

KINDS: dict[str, dict[str, Any]] = {
    "allergies": {
        "record": "allergy",
        "create": {"substance": "Sulfonamides", "reaction": "Rash", "severity": "moderate"},
        "update": {"active": False},
    },
    "medications": {
        "record": "medication",
        "create": {
            "name": "Atorvastatin",
            "dose": "20 mg",
            "frequency": "once daily",
            "start_date": "2024-01-01",
        },
        "update": {"dose": "1000 mg"},
    },
    "conditions": {
        "record": "condition",
        "create": {"icd10_code": "E78.5", "description": "Hyperlipidemia, unspecified"},
        "update": {"status": "resolved"},
    },
    "encounters": {
        "record": "encounter",
        "create": {"date": "2025-02-01", "type": "telehealth", "notes": "Follow-up call."},
        "update": {"notes": "Follow-up call, rescheduled."},
    },
    "observations": {
        "record": "observation",
        "create": {"code": "8480-6", "value": "128", "unit": "mm[Hg]", "taken_at": "2025-02-01T08:00:00Z"},
        "update": {"value": "131"},
    },
}


def _client(ward: Ward, role: str) -> Any:
    return client_for(None if role == "anonymous" else getattr(ward, role))


def _write_status(role: str, success: int) -> int:
    return WRITE.get(role, success)


def _records(ward: Ward, kind: str) -> Any:
    return getattr(ward.profile, kind)


@pytest.mark.parametrize("role", ROLES)
def test_patient_chart_is_read_by_owner_assigned_clinician_and_staff_only(ward: Ward, role: str) -> None:
    response = _client(ward, role).get(f"/api/ehr/patients/{ward.profile.pk}/")
    assert response.status_code == READ[role]
    if response.status_code == 200:
        assert response.json()["patient"]["medical_record_number"] == ward.profile.medical_record_number


@pytest.mark.parametrize("role", ROLES)
def test_patient_demographics_are_changed_by_the_assigned_clinician_only(ward: Ward, role: str) -> None:
    response = _client(ward, role).patch(
        f"/api/ehr/patients/{ward.profile.pk}/", {"blood_type": "AB-"}, format="json"
    )
    assert response.status_code == _write_status(role, 200)
    changed = PatientProfile.objects.get(pk=ward.profile.pk).blood_type == "AB-"
    assert changed is (role == "clinician")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_record_list_is_read_by_owner_assigned_clinician_and_staff_only(
    ward: Ward, role: str, kind: str
) -> None:
    response = _client(ward, role).get(f"/api/ehr/patients/{ward.profile.pk}/{kind}/")
    assert response.status_code == READ[role]
    if response.status_code == 200:
        assert [row["id"] for row in response.json()["results"]] == [getattr(ward, KINDS[kind]["record"]).pk]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_record_detail_is_read_by_owner_assigned_clinician_and_staff_only(
    ward: Ward, role: str, kind: str
) -> None:
    record = getattr(ward, KINDS[kind]["record"])
    response = _client(ward, role).get(f"/api/ehr/patients/{ward.profile.pk}/{kind}/{record.pk}/")
    assert response.status_code == READ[role]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_records_are_created_by_the_assigned_clinician_only(ward: Ward, role: str, kind: str) -> None:
    before = _records(ward, kind).count()
    response = _client(ward, role).post(
        f"/api/ehr/patients/{ward.profile.pk}/{kind}/", KINDS[kind]["create"], format="json"
    )
    assert response.status_code == _write_status(role, 201), response.content
    assert _records(ward, kind).count() == before + (1 if role == "clinician" else 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_records_are_updated_by_the_assigned_clinician_only(ward: Ward, role: str, kind: str) -> None:
    record = getattr(ward, KINDS[kind]["record"])
    url = f"/api/ehr/patients/{ward.profile.pk}/{kind}/{record.pk}/"
    response = _client(ward, role).patch(url, KINDS[kind]["update"], format="json")
    assert response.status_code == _write_status(role, 200), response.content
    record.refresh_from_db()
    field, value = next(iter(KINDS[kind]["update"].items()))
    assert (getattr(record, field) == type(getattr(record, field))(value)) is (role == "clinician")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("role", ROLES)
def test_records_are_deleted_by_the_assigned_clinician_only(ward: Ward, role: str, kind: str) -> None:
    record = getattr(ward, KINDS[kind]["record"])
    response = _client(ward, role).delete(f"/api/ehr/patients/{ward.profile.pk}/{kind}/{record.pk}/")
    assert response.status_code == _write_status(role, 204)
    assert _records(ward, kind).filter(pk=record.pk).exists() is (role != "clinician")


@pytest.mark.parametrize("kind", KINDS)
def test_a_record_of_another_patient_is_404_even_for_the_assigned_clinician(ward: Ward, kind: str) -> None:
    record = getattr(ward, KINDS[kind]["record"])
    ward.other_profile.clinicians.add(ward.clinician)
    url = f"/api/ehr/patients/{ward.other_profile.pk}/{kind}/{record.pk}/"
    assert client_for(ward.clinician).get(url).status_code == 404


@pytest.mark.parametrize(
    ("role", "visible"),
    [
        ("owner", {"alice"}),
        ("other_patient", {"bob"}),
        ("clinician", {"alice"}),
        ("unassigned_clinician", set()),
        ("staff", {"alice", "bob"}),
    ],
)
def test_patient_list_shows_exactly_the_readable_records(ward: Ward, role: str, visible: set[str]) -> None:
    response = _client(ward, role).get("/api/ehr/patients/")
    assert response.status_code == 200
    assert {row["username"] for row in response.json()["results"]} == visible


def test_patient_list_is_401_for_anonymous(ward: Ward) -> None:
    assert client_for(None).get("/api/ehr/patients/").status_code == 401


@pytest.mark.parametrize("path", ["/api/ehr/me", "/api/ehr/me/allergies/"])
def test_own_record_routes_answer_the_owner_and_404_without_a_profile(ward: Ward, path: str) -> None:
    assert client_for(ward.owner).get(path).status_code == 200
    assert client_for(ward.clinician).get(path).status_code == 404
    assert client_for(None).get(path).status_code == 401


def test_a_clinician_whose_role_was_revoked_loses_access(ward: Ward) -> None:
    User.objects.filter(pk=ward.clinician.pk).update(role=User.Role.PATIENT)
    ward.clinician.refresh_from_db()
    assert client_for(ward.clinician).get(f"/api/ehr/patients/{ward.profile.pk}/").status_code == 404
