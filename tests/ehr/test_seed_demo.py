"""``manage.py seed_demo``: demo clinician, patients with realistic records and conversations — idempotent."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from accounts.models import User
from audit.models import AuditEvent
from chats.models import ChatMessage, ChatSession
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

COUNTED = [
    User,
    PatientProfile,
    Allergy,
    Medication,
    Condition,
    Encounter,
    Observation,
    ChatSession,
    ChatMessage,
]


def _seed(settings: Any, tmp_path: Path) -> str:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model._default_manager.count() for model in COUNTED} | {
        "events": AuditEvent.objects.count()
    }


def test_seed_creates_assigned_patients_with_records_and_conversations(settings: Any, tmp_path: Path) -> None:
    output = _seed(settings, tmp_path)
    clinician = User.objects.get(username="demo-clinician")
    assigned = set(
        PatientProfile.objects.filter(clinicians=clinician).values_list("user__username", flat=True)
    )
    assert assigned == {"demo-patient", "demo-patient-2"}
    assert PatientProfile.objects.get(user__username="demo-patient-3").clinicians.count() == 0
    demo = PatientProfile.objects.get(user__username="demo-patient")
    assert demo.allergies.exists()
    assert demo.medications.exists()
    assert demo.conditions.exists()
    assert demo.encounters.exists()
    assert demo.observations.exists()
    assert "demo login: demo-patient-2" in output
    reply = ChatMessage.objects.filter(user_id=demo.user_id, role="assistant").order_by("order").first()
    assert reply is not None
    assert set(reply.metadata["ehr_record_ids"]) == {"allergy", "medication", "condition"}


def test_running_seed_twice_creates_nothing_new(settings: Any, tmp_path: Path) -> None:
    _seed(settings, tmp_path)
    first = _counts()
    _seed(settings, tmp_path)
    assert _counts() == first
