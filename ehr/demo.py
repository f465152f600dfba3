"""Demo patients for the embedded run (``manage.py seed_demo``): accounts and records.

Their conversations (the questions below) are written by ``chats.demo``.

Idempotent: profiles and entries are found by their natural keys, conversations by fixed session
and message ids, so running it again creates nothing new. Replies come from the offline
responder with the patient's EHR summary (no network), like a real chat turn would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from accounts.models import User
from ehr import services
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile


@dataclass(frozen=True)
class DemoPatient:
    username: str
    first_name: str
    last_name: str
    medical_record_number: str
    date_of_birth: date
    sex: str
    blood_type: str
    assigned: bool
    allergies: list[dict[str, Any]] = field(default_factory=list)
    medications: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    encounters: list[dict[str, Any]] = field(default_factory=list)
    observations: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    questions: list[str] = field(default_factory=list)


def _at(year: int, month: int, day: int, hour: int = 9) -> datetime:
    return datetime(year, month, day, hour, 30, tzinfo=UTC)


DEMO_PATIENTS = [
    DemoPatient(
        username="demo-patient",
        first_name="Maria",
        last_name="Keller",
        medical_record_number="MRN-DEMO-0001",
        date_of_birth=date(1968, 4, 12),
        sex=PatientProfile.Sex.FEMALE,
        blood_type=PatientProfile.BloodType.A_POSITIVE,
        assigned=True,
        allergies=[
            {"substance": "Penicillin", "reaction": "Hives and facial swelling", "severity": "severe"},
            {"substance": "Latex", "reaction": "Contact dermatitis", "severity": "mild"},
        ],
        medications=[
            {
                "name": "Metformin",
                "dose": "500 mg",
                "frequency": "twice daily with meals",
                "start_date": date(2019, 3, 1),
            },
            {
                "name": "Lisinopril",
                "dose": "10 mg",
                "frequency": "once daily",
                "start_date": date(2020, 6, 15),
            },
            {
                "name": "Amoxicillin",
                "dose": "250 mg",
                "frequency": "three times daily",
                "start_date": date(2012, 1, 4),
                "end_date": date(2012, 1, 6),
                "active": False,
            },
        ],
        conditions=[
            {
                "icd10_code": "E11.9",
                "description": "Type 2 diabetes mellitus without complications",
                "onset_date": date(2019, 2, 14),
            },
            {
                "icd10_code": "I10",
                "description": "Essential (primary) hypertension",
                "onset_date": date(2020, 5, 30),
            },
        ],
        encounters=[
            {"date": date(2025, 1, 15), "type": "outpatient", "notes": "Diabetes review; HbA1c improving."},
            {"date": date(2025, 6, 3), "type": "telehealth", "notes": "Blood pressure follow-up."},
        ],
        observations=[
            (Observation.Code.HBA1C, "6.9", "%", _at(2025, 1, 15)),
            (Observation.Code.SYSTOLIC_BP, "138", "mm[Hg]", _at(2025, 6, 3)),
            (Observation.Code.DIASTOLIC_BP, "86", "mm[Hg]", _at(2025, 6, 3)),
            (Observation.Code.BODY_WEIGHT, "78.4", "kg", _at(2025, 6, 3)),
            (Observation.Code.HEART_RATE, "72", "/min", _at(2025, 6, 3)),
        ],
        questions=[
            "I have a headache and feel dizzy since this morning.",
            "Can I take ibuprofen with my medication?",
        ],
    ),
    DemoPatient(
        username="demo-patient-2",
        first_name="Jonas",
        last_name="Berger",
        medical_record_number="MRN-DEMO-0002",
        date_of_birth=date(1991, 11, 2),
        sex=PatientProfile.Sex.MALE,
        blood_type=PatientProfile.BloodType.O_NEGATIVE,
        assigned=True,
        allergies=[{"substance": "Peanuts", "reaction": "Anaphylaxis", "severity": "life_threatening"}],
        medications=[
            {
                "name": "Salbutamol inhaler",
                "dose": "100 mcg",
                "frequency": "as needed",
                "start_date": date(2015, 9, 1),
            },
            {
                "name": "Fluticasone inhaler",
                "dose": "250 mcg",
                "frequency": "twice daily",
                "start_date": date(2021, 2, 1),
            },
        ],
        conditions=[
            {
                "icd10_code": "J45.909",
                "description": "Unspecified asthma, uncomplicated",
                "onset_date": date(2003, 7, 1),
            },
            {"icd10_code": "J30.1", "description": "Allergic rhinitis due to pollen", "status": "remission"},
        ],
        encounters=[
            {"date": date(2025, 3, 20), "type": "emergency", "notes": "Asthma exacerbation after a cold."}
        ],
        observations=[
            (Observation.Code.OXYGEN_SATURATION, "95", "%", _at(2025, 3, 20, 22)),
            (Observation.Code.RESPIRATORY_RATE, "22", "/min", _at(2025, 3, 20, 22)),
            (Observation.Code.BODY_TEMPERATURE, "37.8", "Cel", _at(2025, 3, 20, 22)),
        ],
        questions=["I am short of breath after running, what should I do?"],
    ),
    DemoPatient(
        username="demo-patient-3",
        first_name="Lea",
        last_name="Sommer",
        medical_record_number="MRN-DEMO-0003",
        date_of_birth=date(1984, 2, 27),
        sex=PatientProfile.Sex.FEMALE,
        blood_type=PatientProfile.BloodType.B_POSITIVE,
        assigned=False,  # the demo clinician gets a 404 here: the role matrix, live
        conditions=[
            {
                "icd10_code": "E03.9",
                "description": "Hypothyroidism, unspecified",
                "onset_date": date(2016, 10, 1),
            }
        ],
        medications=[
            {
                "name": "Levothyroxine",
                "dose": "75 mcg",
                "frequency": "once daily before breakfast",
                "start_date": date(2016, 10, 10),
            }
        ],
        observations=[(Observation.Code.BODY_HEIGHT, "168", "cm", _at(2024, 11, 5))],
        questions=["Hello!"],
    ),
]


def ensure_demo_patients(*, password: str) -> list[User]:
    """The demo patient accounts (``demo-patient`` included), with the given password."""
    users = []
    for demo in DEMO_PATIENTS:
        user, _ = User.objects.get_or_create(username=demo.username, defaults={"role": User.Role.PATIENT})
        user.role = User.Role.PATIENT
        user.first_name, user.last_name = demo.first_name, demo.last_name
        user.is_staff = user.is_superuser = False
        user.set_password(password)
        user.save()
        users.append(user)
    return users


@transaction.atomic
def ensure_demo_records(*, clinician: User) -> list[PatientProfile]:
    """Profiles and entries of the demo patients; the clinician is assigned where ``assigned``."""
    profiles = []
    for demo in DEMO_PATIENTS:
        user = User.objects.get(username=demo.username)
        profile = PatientProfile.objects.filter(user=user).first() or services.create_patient_profile(
            user=user,
            medical_record_number=demo.medical_record_number,
            date_of_birth=demo.date_of_birth,
            sex=demo.sex,
            blood_type=demo.blood_type,
        )
        if demo.assigned:
            services.assign_clinician(patient=profile, clinician=clinician)
        for values in demo.allergies:
            _ensure(Allergy, profile, {"substance": values["substance"]}, values)
        for values in demo.medications:
            _ensure(Medication, profile, {"name": values["name"], "start_date": values["start_date"]}, values)
        for values in demo.conditions:
            _ensure(Condition, profile, {"icd10_code": values["icd10_code"]}, values)
        for values in demo.encounters:
            encounter = {**values, "clinician": clinician if demo.assigned else None}
            _ensure(Encounter, profile, {"date": values["date"], "type": values["type"]}, encounter)
        for code, value, unit, taken_at in demo.observations:
            _ensure(
                Observation,
                profile,
                {"code": code, "taken_at": taken_at},
                {"code": code, "value": Decimal(value), "unit": unit, "taken_at": taken_at},
            )
        profiles.append(profile)
    return profiles


def _ensure(model: type[Any], patient: PatientProfile, key: dict[str, Any], values: dict[str, Any]) -> None:
    if not model.objects.filter(patient=patient, **key).exists():
        services.create_record(actor=None, patient=patient, model=model, fields=values)
