"""Logs carry ids, never EHR values (STYLE: structured logging without PHI)."""

from __future__ import annotations

import logging

import pytest

from tests.ehr.conftest import Ward, client_for

pytestmark = pytest.mark.django_db

SECRETS = ["Zyxomycin", "purple hives", "Q99.9", "Hidden condition", "Secret clinic note"]


def test_a_full_clinician_flow_logs_ids_but_no_values(ward: Ward, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(ward.clinician)
    base = f"/api/ehr/patients/{ward.profile.pk}"
    with caplog.at_level(logging.DEBUG):
        allergy = client.post(
            f"{base}/allergies/", {"substance": "Zyxomycin", "reaction": "purple hives"}, format="json"
        ).json()
        client.post(
            f"{base}/conditions/", {"icd10_code": "Q99.9", "description": "Hidden condition"}, format="json"
        )
        client.post(
            f"{base}/encounters/", {"date": "2025-01-01", "notes": "Secret clinic note"}, format="json"
        )
        client.post(
            f"{base}/conditions/", {"icd10_code": "Q99.9!", "description": "Hidden condition"}, format="json"
        )
        client.get(f"{base}/")
        client.patch(f"{base}/allergies/{allergy['id']}/", {"reaction": "purple hives again"}, format="json")
        client.delete(f"{base}/allergies/{allergy['id']}/")
        client_for(ward.unassigned_clinician).get(f"{base}/allergies/")
    assert "ehr create" in caplog.text
    assert any(getattr(record, "object_id", None) == allergy["id"] for record in caplog.records)
    for secret in SECRETS:
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in str(record.__dict__)
