"""Every EHR API access by someone other than the patient leaves an audit event; the patient's own don't."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from tests.ehr.conftest import Ward, client_for

pytestmark = pytest.mark.django_db


def _events() -> list[tuple[int | None, str, str, str, int | None, str]]:
    return list(
        AuditEvent.objects.order_by("sequence").values_list(
            "actor_id", "action", "object_type", "object_id", "owner_id", "outcome"
        )
    )


def test_the_patients_own_reads_are_not_audited(ward: Ward) -> None:
    client = client_for(ward.owner)
    client.get("/api/ehr/me")
    client.get("/api/ehr/me/allergies/")
    client.get(f"/api/ehr/patients/{ward.profile.pk}/")
    assert _events() == []


def test_a_clinicians_chart_read_is_audited_with_actor_owner_and_ip(ward: Ward) -> None:
    client_for(ward.clinician).get(f"/api/ehr/patients/{ward.profile.pk}/", REMOTE_ADDR="203.0.113.9")
    event = AuditEvent.objects.get()
    assert (
        event.actor_id,
        event.action,
        event.object_type,
        event.object_id,
        event.owner_id,
        event.outcome,
    ) == (
        ward.clinician.pk,
        "read",
        "ehr.patientprofile",
        str(ward.profile.pk),
        ward.owner.pk,
        "ok",
    )
    assert event.client_ip == "203.0.113.9"


def test_list_and_detail_reads_are_audited_per_object(ward: Ward) -> None:
    client = client_for(ward.staff)
    client.get(f"/api/ehr/patients/{ward.profile.pk}/allergies/")
    client.get(f"/api/ehr/patients/{ward.profile.pk}/allergies/{ward.allergy.pk}/")
    assert _events() == [
        (ward.staff.pk, "read", "ehr.allergy", "", ward.owner.pk, "ok"),
        (ward.staff.pk, "read", "ehr.allergy", str(ward.allergy.pk), ward.owner.pk, "ok"),
    ]


def test_listing_patients_audits_each_listed_patient(ward: Ward) -> None:
    client_for(ward.staff).get("/api/ehr/patients/")
    assert {(owner, object_type) for _, _, object_type, _, owner, _ in _events()} == {
        (ward.owner.pk, "ehr.patientprofile"),
        (ward.other_patient.pk, "ehr.patientprofile"),
    }


def test_create_change_and_delete_by_the_clinician_are_audited(ward: Ward) -> None:
    client = client_for(ward.clinician)
    base = f"/api/ehr/patients/{ward.profile.pk}/medications/"
    created = client.post(
        base,
        {"name": "Aspirin", "dose": "100 mg", "frequency": "daily", "start_date": "2025-01-01"},
        format="json",
    ).json()
    client.patch(f"{base}{created['id']}/", {"dose": "75 mg"}, format="json")
    client.delete(f"{base}{created['id']}/")
    client.patch(f"/api/ehr/patients/{ward.profile.pk}/", {"sex": "other"}, format="json")
    assert [(action, object_type, object_id) for _, action, object_type, object_id, _, _ in _events()] == [
        ("create", "ehr.medication", str(created["id"])),
        ("change", "ehr.medication", str(created["id"])),
        ("delete", "ehr.medication", str(created["id"])),
        ("change", "ehr.patientprofile", str(ward.profile.pk)),
    ]


def test_refused_attempts_on_an_existing_record_are_audited_as_denied(ward: Ward) -> None:
    client_for(ward.unassigned_clinician).get(f"/api/ehr/patients/{ward.profile.pk}/")
    client_for(ward.staff).delete(f"/api/ehr/patients/{ward.profile.pk}/allergies/{ward.allergy.pk}/")
    assert _events() == [
        (
            ward.unassigned_clinician.pk,
            "read",
            "ehr.patientprofile",
            str(ward.profile.pk),
            ward.owner.pk,
            "denied",
        ),
        (ward.staff.pk, "delete", "ehr.patientprofile", str(ward.profile.pk), ward.owner.pk, "denied"),
    ]


def test_requests_for_patients_that_do_not_exist_leave_no_event(ward: Ward) -> None:
    client_for(ward.unassigned_clinician).get("/api/ehr/patients/987654/")
    assert _events() == []


def test_invalid_writes_leave_no_change_event(ward: Ward) -> None:
    client_for(ward.clinician).post(
        f"/api/ehr/patients/{ward.profile.pk}/conditions/",
        {"icd10_code": "bad", "description": "x"},
        format="json",
    )
    assert _events() == []
