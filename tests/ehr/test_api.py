"""The EHR API's behaviour: records, validation (400s with clear messages), filters, pagination."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ehr.models import Condition, Encounter, Observation
from tests.ehr.conftest import Ward, client_for
from tests.ehr.factories import AllergyFactory, ObservationFactory, make_profile
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _post(ward: Ward, kind: str, body: dict[str, Any]) -> Any:
    return client_for(ward.clinician).post(
        f"/api/ehr/patients/{ward.profile.pk}/{kind}/", body, format="json"
    )


def test_me_returns_the_callers_whole_record(ward: Ward) -> None:
    body = client_for(ward.owner).get("/api/ehr/me").json()
    assert body["patient"]["username"] == "alice"
    assert [c["username"] for c in body["clinicians"]] == ["dr-house"]
    assert body["allergies"][0]["substance"] == "Penicillin"
    assert body["medications"][0]["name"] == "Metformin"
    assert body["conditions"][0]["icd10_code"] == "E11.9"
    assert body["encounters"][0]["clinician_username"] == "dr-house"
    assert body["observations"][0]["code_display"] == "Heart rate"


def test_me_lists_page_through_the_callers_entries(ward: Ward) -> None:
    for number in range(3):
        AllergyFactory(patient=ward.profile, substance=f"Substance {number}")
    first = client_for(ward.owner).get("/api/ehr/me/allergies/?page_size=2").json()
    assert len(first["results"]) == 2
    second = client_for(ward.owner).get(first["next"]).json()
    assert len(second["results"]) == 2
    assert second["next"] is None


def test_page_size_is_capped(ward: Ward) -> None:
    for _ in range(105):
        ObservationFactory(patient=ward.profile)
    body = (
        client_for(ward.clinician)
        .get(f"/api/ehr/patients/{ward.profile.pk}/observations/?page_size=500")
        .json()
    )
    assert len(body["results"]) == 100
    assert body["next"] is not None


def test_a_malformed_cursor_is_a_400(ward: Ward) -> None:
    response = client_for(ward.clinician).get(
        f"/api/ehr/patients/{ward.profile.pk}/allergies/?cursor=garbage"
    )
    assert response.status_code == 400
    assert "cursor" in response.json()


def test_created_condition_codes_are_upper_cased(ward: Ward) -> None:
    response = _post(ward, "conditions", {"icd10_code": "j45.909", "description": "Asthma"})
    assert response.status_code == 201
    assert response.json()["icd10_code"] == "J45.909"


def test_an_encounter_defaults_to_the_clinician_who_records_it(ward: Ward) -> None:
    response = _post(ward, "encounters", {"date": "2025-03-01", "type": "outpatient"})
    assert response.status_code == 201
    assert response.json()["clinician_username"] == "dr-house"


def test_the_patient_in_the_body_is_ignored(ward: Ward) -> None:
    response = _post(ward, "allergies", {"substance": "Latex", "patient": ward.other_profile.pk})
    assert response.status_code == 201
    assert ward.profile.allergies.filter(substance="Latex").exists()
    assert not ward.other_profile.allergies.exists()


@pytest.mark.parametrize(
    ("kind", "body", "field", "message"),
    [
        ("conditions", {"icd10_code": "123", "description": "x"}, "icd10_code", "Enter an ICD-10 code"),
        ("conditions", {"icd10_code": "U07.1", "description": "x"}, "icd10_code", "Enter an ICD-10 code"),
        (
            "observations",
            {"code": "8480-6", "value": "120", "unit": "kg", "taken_at": "2025-01-01T00:00:00Z"},
            "unit",
            "Systolic blood pressure (8480-6) is recorded in mm[Hg], not 'kg'.",
        ),
        (
            "observations",
            {"code": "0000-0", "value": "1", "unit": "%", "taken_at": "2025-01-01T00:00:00Z"},
            "code",
            "is not a valid choice",
        ),
        (
            "observations",
            {"code": "8867-4", "value": "-1", "unit": "/min", "taken_at": "2025-01-01T00:00:00Z"},
            "value",
            "greater than or equal to 0",
        ),
        (
            "observations",
            {"code": "8867-4", "value": "1e30", "unit": "/min", "taken_at": "2025-01-01T00:00:00Z"},
            "value",
            "digits",
        ),
        (
            "medications",
            {
                "name": "X",
                "dose": "1 mg",
                "frequency": "daily",
                "start_date": "2025-02-01",
                "end_date": "2025-01-01",
            },
            "end_date",
            "The end date cannot be before the start date.",
        ),
        (
            "medications",
            {"name": "X", "dose": "1 mg", "frequency": "daily", "start_date": "01/02/2025"},
            "start_date",
            "wrong format",
        ),
        ("allergies", {"substance": "", "severity": "deadly"}, "severity", "is not a valid choice"),
        ("allergies", {"substance": "x" * 201}, "substance", "no more than 200 characters"),
        ("encounters", {"date": "2025-01-01", "clinician": 987654321}, "clinician", "is not a clinician"),
    ],
)
def test_invalid_entries_are_400_naming_the_field(
    ward: Ward, kind: str, body: dict[str, Any], field: str, message: str
) -> None:
    response = _post(ward, kind, body)
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])


@pytest.mark.parametrize("kind", ["conditions", "encounters", "observations"])
def test_dates_in_the_future_are_400(ward: Ward, kind: str) -> None:
    tomorrow = timezone.localdate() + timedelta(days=1)
    body = {
        "conditions": {
            "icd10_code": "I10",
            "description": "Hypertension",
            "onset_date": tomorrow.isoformat(),
        },
        "encounters": {"date": tomorrow.isoformat()},
        "observations": {
            "code": "8867-4",
            "value": "70",
            "unit": "/min",
            "taken_at": (timezone.now() + timedelta(hours=1)).isoformat(),
        },
    }[kind]
    response = _post(ward, kind, body)
    assert response.status_code == 400
    assert "in the future" in str(response.json())


def test_a_user_without_the_clinician_role_cannot_be_an_encounters_clinician(ward: Ward) -> None:
    response = _post(ward, "encounters", {"date": "2025-01-01", "clinician": ward.owner.pk})
    assert response.status_code == 400
    assert response.json()["clinician"] == [
        f"User {ward.owner.pk} is not a clinician: choose a user with the clinician role."
    ]


def test_a_future_date_of_birth_is_400(ward: Ward) -> None:
    tomorrow = timezone.localdate() + timedelta(days=1)
    response = client_for(ward.clinician).patch(
        f"/api/ehr/patients/{ward.profile.pk}/", {"date_of_birth": tomorrow.isoformat()}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"date_of_birth": ["This date is in the future."]}


def test_an_update_that_breaks_a_cross_field_rule_is_400_and_changes_nothing(ward: Ward) -> None:
    url = f"/api/ehr/patients/{ward.profile.pk}/observations/{ward.observation.pk}/"
    response = client_for(ward.clinician).patch(url, {"unit": "mm[Hg]"}, format="json")
    assert response.status_code == 400
    ward.observation.refresh_from_db()
    assert ward.observation.unit == "/min"


def test_put_replaces_a_record(ward: Ward) -> None:
    url = f"/api/ehr/patients/{ward.profile.pk}/allergies/{ward.allergy.pk}/"
    response = client_for(ward.clinician).put(
        url, {"substance": "Amoxicillin", "reaction": "", "severity": "mild", "active": True}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["substance"] == "Amoxicillin"


def test_malformed_json_is_400(ward: Ward) -> None:
    response = client_for(ward.clinician).generic(
        "POST",
        f"/api/ehr/patients/{ward.profile.pk}/allergies/",
        "{not json",
        content_type="application/json",
    )
    assert response.status_code == 400


@pytest.mark.parametrize("patient_id", ["999999999", "99999999999999999999999"])
def test_unknown_and_out_of_range_ids_are_404(ward: Ward, patient_id: str) -> None:
    assert client_for(ward.staff).get(f"/api/ehr/patients/{patient_id}/").status_code == 404
    url = f"/api/ehr/patients/{ward.profile.pk}/allergies/{patient_id}/"
    assert client_for(ward.clinician).get(url).status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?active=true", ["Penicillin"]),
        ("?active=false", ["Latex"]),
        ("?severity=mild", ["Latex"]),
        ("?substance=peni", ["Penicillin"]),
    ],
)
def test_allergies_filter_by_state_severity_and_substance(
    ward: Ward, query: str, expected: list[str]
) -> None:
    AllergyFactory(patient=ward.profile, substance="Latex", severity="mild", active=False)
    body = client_for(ward.clinician).get(f"/api/ehr/patients/{ward.profile.pk}/allergies/{query}").json()
    assert [row["substance"] for row in body["results"]] == expected


def test_observations_filter_by_code_and_time(ward: Ward) -> None:
    ObservationFactory(patient=ward.profile, code=Observation.Code.BODY_WEIGHT, value=80, unit="kg")
    base = f"/api/ehr/patients/{ward.profile.pk}/observations/"
    by_code = client_for(ward.clinician).get(base + "?code=29463-7").json()["results"]
    assert [row["unit"] for row in by_code] == ["kg"]
    later = client_for(ward.clinician).get(base + "?taken_after=2030-01-01T00:00:00Z").json()["results"]
    assert later == []


def test_conditions_and_encounters_filter(ward: Ward) -> None:
    Condition.objects.create(
        patient=ward.profile, icd10_code="I10", description="Hypertension", status="resolved"
    )
    Encounter.objects.create(patient=ward.profile, date="2024-01-01", type="emergency")
    base = f"/api/ehr/patients/{ward.profile.pk}"
    client = client_for(ward.clinician)
    assert [r["icd10_code"] for r in client.get(f"{base}/conditions/?status=resolved").json()["results"]] == [
        "I10"
    ]
    assert [r["icd10_code"] for r in client.get(f"{base}/conditions/?icd10_code=e11").json()["results"]] == [
        "E11.9"
    ]
    assert [
        r["type"] for r in client.get(f"{base}/encounters/?date_before=2024-06-01").json()["results"]
    ] == ["emergency"]
    assert len(client.get(f"{base}/encounters/?clinician={ward.clinician.pk}").json()["results"]) == 1


@pytest.mark.parametrize(
    "query", ["?severity=deadly", "?taken_after=yesterday", "?date_before=2024-13-01", "?clinician=abc"]
)
def test_invalid_filter_values_are_400(ward: Ward, query: str) -> None:
    kind = {"?s": "allergies", "?t": "observations"}.get(query[:2], "encounters")
    response = client_for(ward.clinician).get(f"/api/ehr/patients/{ward.profile.pk}/{kind}/{query}")
    assert response.status_code == 400
    assert query[1:].split("=")[0] in response.json()


def test_patients_are_searched_and_filtered(ward: Ward) -> None:
    make_profile(user=make_user(username="carol", last_name="Zimmermann"), blood_type="B-")
    client = client_for(ward.staff)
    assert [r["username"] for r in client.get("/api/ehr/patients/?q=zimmer").json()["results"]] == ["carol"]
    assert [r["username"] for r in client.get("/api/ehr/patients/?blood_type=B-").json()["results"]] == [
        "carol"
    ]
    mrn = ward.profile.medical_record_number.lower()
    assert [
        r["username"] for r in client.get(f"/api/ehr/patients/?medical_record_number={mrn}").json()["results"]
    ] == ["alice"]
    assert client.get("/api/ehr/patients/?born_after=not-a-date").status_code == 400


GARBAGE: list[Any] = [
    [],
    ["a list"],
    "a string",
    {"substance": "\x00", "name": "\x00", "icd10_code": "\x00", "code": "\x00", "date": "\x00"},
    {"value": "NaN", "taken_at": "2025-02-30T00:00:00Z", "start_date": "0000-00-00", "date": "10000-01-01"},
    {"clinician": "abc", "active": "maybe", "severity": None, "onset_date": 12, "notes": "n" * 10_001},
]


@pytest.mark.parametrize("kind", ["allergies", "medications", "conditions", "encounters", "observations"])
@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_input_is_a_400_never_a_500(ward: Ward, kind: str, body: Any) -> None:
    record = {
        "allergies": ward.allergy,
        "medications": ward.medication,
        "conditions": ward.condition,
        "encounters": ward.encounter,
        "observations": ward.observation,
    }[kind]
    client = client_for(ward.clinician)
    base = f"/api/ehr/patients/{ward.profile.pk}/{kind}/"
    assert client.post(base, body, format="json").status_code == 400
    assert client.put(f"{base}{record.pk}/", body, format="json").status_code == 400
    assert client.patch(f"/api/ehr/patients/{ward.profile.pk}/", body, format="json").status_code in (
        200,
        400,
    )
