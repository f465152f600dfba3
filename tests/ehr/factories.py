"""factory-boy factories of EHR data (MySQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import cast

import factory

from accounts.models import User
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile
from tests.factories import UserFactory


class ClinicianFactory(UserFactory):
    username = factory.Sequence(lambda n: f"clinician{n}")
    role = User.Role.CLINICIAN


class PatientProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientProfile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    medical_record_number = factory.Sequence(lambda n: f"MRN-{n:06d}")
    date_of_birth = date(1980, 5, 17)
    sex = PatientProfile.Sex.FEMALE
    blood_type = PatientProfile.BloodType.O_POSITIVE

    @factory.post_generation
    def clinicians(self, create: bool, extracted: list[User] | None, **kwargs: object) -> None:
        if create and extracted:
            cast(PatientProfile, self).clinicians.add(*extracted)


class AllergyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Allergy

    patient = factory.SubFactory(PatientProfileFactory)
    substance = "Penicillin"
    reaction = "Hives"
    severity = Allergy.Severity.SEVERE


class MedicationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Medication

    patient = factory.SubFactory(PatientProfileFactory)
    name = "Metformin"
    dose = "500 mg"
    frequency = "twice daily"
    start_date = date(2020, 1, 1)


class ConditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Condition

    patient = factory.SubFactory(PatientProfileFactory)
    icd10_code = "E11.9"
    description = "Type 2 diabetes mellitus without complications"
    onset_date = date(2019, 2, 1)


class EncounterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Encounter

    patient = factory.SubFactory(PatientProfileFactory)
    date = date(2025, 1, 15)
    type = Encounter.Type.OUTPATIENT
    notes = "Routine review."


class ObservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Observation

    patient = factory.SubFactory(PatientProfileFactory)
    code = Observation.Code.HEART_RATE
    value = Decimal("72")
    unit = "/min"
    taken_at = datetime(2025, 1, 15, 9, 30, tzinfo=UTC)


def make_clinician(**fields: object) -> User:
    return cast(User, ClinicianFactory(**fields))


def make_profile(**fields: object) -> PatientProfile:
    return cast(PatientProfile, PatientProfileFactory(**fields))
