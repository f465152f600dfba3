"""The ward of the EHR tests: a patient with a full record, their clinician, and everyone else."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile
from tests.ehr.factories import (
    AllergyFactory,
    ConditionFactory,
    EncounterFactory,
    MedicationFactory,
    ObservationFactory,
    make_clinician,
    make_profile,
)
from tests.factories import make_user


@dataclass
class Ward:
    owner: User
    profile: PatientProfile
    other_patient: User
    other_profile: PatientProfile
    clinician: User
    unassigned_clinician: User
    staff: User
    allergy: Allergy
    medication: Medication
    condition: Condition
    encounter: Encounter
    observation: Observation


@pytest.fixture
def ward(db: None) -> Ward:
    clinician = make_clinician(username="dr-house")
    owner = make_user(username="alice")
    profile = make_profile(user=owner, clinicians=[clinician])
    other_patient = make_user(username="bob")
    return Ward(
        owner=owner,
        profile=profile,
        other_patient=other_patient,
        other_profile=make_profile(user=other_patient),
        clinician=clinician,
        unassigned_clinician=make_clinician(username="dr-who"),
        staff=make_user(username="sam-staff", role=User.Role.STAFF, is_staff=True),
        allergy=cast(Allergy, AllergyFactory(patient=profile)),
        medication=cast(Medication, MedicationFactory(patient=profile)),
        condition=cast(Condition, ConditionFactory(patient=profile)),
        encounter=cast(Encounter, EncounterFactory(patient=profile, clinician=clinician)),
        observation=cast(Observation, ObservationFactory(patient=profile)),
    )


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
