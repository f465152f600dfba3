"""The EHR's own rules, enforced by the services (and so by the API and the admin alike)."""

from __future__ import annotations

from datetime import date

import pytest

from ehr import services
from ehr.exceptions import InvalidRecord
from ehr.models import Allergy, Condition, Medication, Observation
from tests.ehr.conftest import Ward
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_a_user_has_at_most_one_profile(ward: Ward) -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.create_patient_profile(
            user=ward.owner, medical_record_number="MRN-999999", date_of_birth=date(1990, 1, 1)
        )
    assert refused.value.errors == {"user": ["This user already has a patient profile."]}


def test_medical_record_numbers_are_unique_whatever_the_case(ward: Ward) -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.create_patient_profile(
            user=make_user(),
            medical_record_number=ward.profile.medical_record_number.lower(),
            date_of_birth=date(1990, 1, 1),
        )
    assert refused.value.errors == {
        "medical_record_number": ["Patient profile with this Medical record number already exists."]
    }


def test_medical_record_numbers_have_a_format() -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.create_patient_profile(
            user=make_user(), medical_record_number="a b", date_of_birth=date(1990, 1, 1)
        )
    assert refused.value.errors["medical_record_number"] == [
        "A medical record number is 4 to 32 upper-case letters, digits or dashes, e.g. MRN-000123."
    ]


def test_only_clinicians_can_be_assigned(ward: Ward) -> None:
    with pytest.raises(InvalidRecord):
        services.assign_clinician(patient=ward.profile, clinician=ward.other_patient)
    services.assign_clinician(patient=ward.profile, clinician=ward.unassigned_clinician)
    assert set(ward.profile.clinicians.all()) == {ward.clinician, ward.unassigned_clinician}


@pytest.mark.parametrize("code", ["E11.9", "J45.909", "I10", "S72.001A", "O09.90", "C4A.0"])
def test_well_formed_icd10_codes_are_accepted(ward: Ward, code: str) -> None:
    condition = services.create_record(
        actor=ward.clinician,
        patient=ward.profile,
        model=Condition,
        fields={"icd10_code": code, "description": "x"},
    )
    assert condition.pk is not None


@pytest.mark.parametrize("code", ["e11.9", "E1", "E11.", "E11.12345", "U07.1", "11.9", "E11-9"])
def test_malformed_icd10_codes_are_refused(ward: Ward, code: str) -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.create_record(
            actor=ward.clinician,
            patient=ward.profile,
            model=Condition,
            fields={"icd10_code": code, "description": "x"},
        )
    assert list(refused.value.errors) == ["icd10_code"]


@pytest.mark.parametrize(
    ("code", "unit"), [(c, u) for c, units in Observation.ALLOWED_UNITS.items() for u in units]
)
def test_every_allowed_unit_is_accepted_for_its_code(ward: Ward, code: str, unit: str) -> None:
    fields = {"code": code, "value": 1, "unit": unit, "taken_at": ward.observation.taken_at}
    assert services.create_record(
        actor=ward.clinician, patient=ward.profile, model=Observation, fields=fields
    ).pk


def test_fields_outside_the_editable_set_are_refused(ward: Ward) -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.update_record(
            actor=ward.clinician, record=ward.allergy, changes={"patient": ward.other_profile}
        )
    assert refused.value.errors == {"patient": ["This field cannot be set."]}


def test_a_medication_cannot_end_before_it_starts(ward: Ward) -> None:
    with pytest.raises(InvalidRecord) as refused:
        services.update_record(
            actor=ward.clinician, record=ward.medication, changes={"end_date": date(2000, 1, 1)}
        )
    assert refused.value.errors == {"end_date": ["The end date cannot be before the start date."]}
    assert Medication.objects.get(pk=ward.medication.pk).end_date is None


def test_records_print_without_clinical_values(ward: Ward) -> None:
    printed = " ".join(
        str(obj) for obj in [ward.profile, ward.allergy, ward.medication, ward.condition, ward.observation]
    )
    for value in ["Penicillin", "Metformin", "E11.9", "MRN", "72"]:
        assert value not in printed
    assert str(ward.allergy) == f"allergy #{ward.allergy.pk}"


def test_deleting_a_profile_deletes_its_entries(ward: Ward) -> None:
    ward.profile.delete()
    assert not Allergy.objects.filter(pk=ward.allergy.pk).exists()
