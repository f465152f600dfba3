"""EHR reads: who may see which patient, a patient's chart, and the chat responder's summary.

Visibility: a patient sees their own profile, a clinician (``User.Role.CLINICIAN``) the profiles
they are assigned to (``PatientProfile.clinicians``), staff (``User.Role.STAFF`` or a superuser)
every profile. Anything else is "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connections
from django.db.models import Q, QuerySet, Value
from django.utils import timezone

from accounts.models import User
from ehr.exceptions import PatientNotFound, RecordNotFound
from ehr.models import (
    Allergy,
    Condition,
    ConversationShare,
    Encounter,
    Medication,
    Observation,
    PatientProfile,
    PatientRecord,
)
from ehr.summary import EhrFact, EhrSummary

RecordT = TypeVar("RecordT", bound=PatientRecord)

CHART_LIMIT = 50  # newest entries of each kind in a chart; the nested list routes page through the rest
SUMMARY_LIMIT = 20  # facts of each kind handed to the chat responder


def is_ehr_staff(user: Any) -> bool:
    return bool(user.is_authenticated and (getattr(user, "role", "") == User.Role.STAFF or user.is_superuser))


def is_clinician(user: Any) -> bool:
    return bool(user.is_authenticated and getattr(user, "role", "") == User.Role.CLINICIAN)


def visible_patients(*, user: Any) -> QuerySet[PatientProfile]:
    """The profiles ``user`` may read, with their users, oldest first."""
    profiles = PatientProfile.objects.select_related("user").order_by("id")
    if not user.is_authenticated:
        return profiles.none()
    if is_ehr_staff(user):
        return profiles
    if is_clinician(user):
        assigned = PatientProfile.clinicians.through.objects.filter(user_id=user.pk).values(
            "patientprofile_id"
        )
        return profiles.filter(Q(pk__in=assigned) | Q(user_id=user.pk))
    return profiles.filter(user_id=user.pk)


def get_patient(*, user: Any, patient_id: int) -> PatientProfile:
    """The profile if ``user`` may read it, else PatientNotFound (also for someone else's)."""
    patient = visible_patients(user=user).filter(pk=patient_id).first()
    if patient is None:
        raise PatientNotFound()
    return patient


def owner_of(*, patient_id: int) -> int | None:
    """The user id whose record this is, or None when there is no such patient."""
    return PatientProfile.objects.filter(pk=patient_id).values_list("user_id", flat=True).first()


def own_profile(*, user: Any) -> PatientProfile:
    patient = PatientProfile.objects.select_related("user").filter(user_id=user.pk).first()
    if patient is None:
        raise PatientNotFound()
    return patient


def can_change(*, user: Any, patient: PatientProfile) -> bool:
    """Only a clinician assigned to the patient writes their record."""
    return is_clinician(user) and patient.clinicians.filter(pk=user.pk).exists()


def patient_records(*, patient: PatientProfile, model: type[RecordT]) -> QuerySet[RecordT]:
    records = model._default_manager.filter(patient=patient)
    if model is Encounter:
        records = records.select_related("clinician")
    return records


def get_record(*, patient: PatientProfile, model: type[RecordT], record_id: int) -> RecordT:
    record = patient_records(patient=patient, model=model).filter(pk=record_id).first()
    if record is None:
        raise RecordNotFound()
    return record


@dataclass(frozen=True)
class Chart:
    """A patient's profile with the newest ``CHART_LIMIT`` entries of each kind."""

    patient: PatientProfile
    clinicians: list[User]
    allergies: list[Allergy]
    medications: list[Medication]
    conditions: list[Condition]
    encounters: list[Encounter]
    observations: list[Observation]


def chart(*, patient: PatientProfile) -> Chart:
    def newest(model: type[RecordT]) -> list[RecordT]:
        return list(patient_records(patient=patient, model=model)[:CHART_LIMIT])

    return Chart(
        patient=patient,
        clinicians=list(patient.clinicians.order_by("id")),
        allergies=newest(Allergy),
        medications=newest(Medication),
        conditions=newest(Condition),
        encounters=newest(Encounter),
        observations=newest(Observation),
    )


def ehr_summary_for(user_id: int) -> EhrSummary:
    """Active allergies, current medications and active conditions of a user (empty without a profile).

    One round trip: the three bounded reads (``SUMMARY_LIMIT`` of each kind, oldest first) as one
    ``UNION ALL`` — it runs on every chat turn. The facts' texts are for the responder only:
    callers log their ids, never the texts.
    """
    allergies = Allergy.objects.filter(patient__user_id=user_id, active=True).values_list(
        "id", "substance", "severity", "reaction"
    )
    medications = (
        Medication.objects.filter(patient__user_id=user_id, active=True)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate()))
        .values_list("id", "name", "dose", "frequency")
    )
    conditions = (
        Condition.objects.filter(patient__user_id=user_id, status__in=Condition.ACTIVE_STATUSES)
        .annotate(nothing=Value(""))
        .values_list("id", "description", "icd10_code", "nothing")
    )
    parts: list[tuple[str, QuerySet[Any]]] = [
        ("allergy", allergies),
        ("medication", medications),
        ("condition", conditions),
    ]
    selects: list[str] = []
    params: list[Any] = []
    for kind, part in parts:
        bounded = part.order_by("id")[:SUMMARY_LIMIT]
        sql, part_params = bounded.query.get_compiler(using=bounded.db).as_sql()
        selects.append(f"SELECT %s, part_{kind}.* FROM ({sql}) part_{kind}")  # noqa: S608  # nosec B608 - ORM-built SQL, bound params
        params += [kind, *part_params]
    with connections[allergies.db].cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        rows = cursor.fetchall()
    facts = [_fact(kind, int(pk), first, second, third) for kind, pk, first, second, third in rows]
    order = {"allergy": 0, "medication": 1, "condition": 2}
    return EhrSummary(facts=sorted(facts, key=lambda fact: (order[fact.kind], fact.record_id)))


def _fact(kind: str, pk: int, first: str, second: str, third: str) -> EhrFact:
    if kind == "allergy":
        return EhrFact(
            kind, pk, allergy_text(Allergy(pk=pk, substance=first, severity=second, reaction=third))
        )
    if kind == "medication":
        return EhrFact(kind, pk, medication_text(Medication(pk=pk, name=first, dose=second, frequency=third)))
    return EhrFact(kind, pk, condition_text(Condition(pk=pk, description=first, icd10_code=second)))


def allergy_text(allergy: Allergy) -> str:
    detail = allergy.get_severity_display().lower()
    if allergy.reaction:
        detail = f"{detail}: {allergy.reaction}"
    return f"{allergy.substance} ({detail})"


def medication_text(medication: Medication) -> str:
    return " ".join(part for part in (medication.name, medication.dose, medication.frequency) if part)


def condition_text(condition: Condition) -> str:
    return f"{condition.description} ({condition.icd10_code})"


# --- conversations shared with the care team ---------------------------------------------------------


def conversation_share(*, patient_user_id: int, session_id: str) -> ConversationShare | None:
    """The patient's share of this conversation, if it is shared."""
    return ConversationShare.objects.filter(patient__user_id=patient_user_id, session_id=session_id).first()


def care_team(*, patient_user_id: int) -> list[User]:
    """The clinicians assigned to the patient (who a share reaches), by name."""
    return list(
        User.objects.filter(assigned_patients__user_id=patient_user_id, role=User.Role.CLINICIAN).order_by(
            "username"
        )
    )


def shares_for_clinician(*, clinician: Any, before: int | None, limit: int) -> list[ConversationShare]:
    """Shares of the patients assigned to ``clinician``, newest first (``before``: a share id);
    empty for anyone who is not a clinician. One query, with the patients' users."""
    if not is_clinician(clinician):
        return []
    shares = ConversationShare.objects.filter(patient__clinicians=clinician).select_related("patient__user")
    if before is not None:
        shares = shares.filter(pk__lt=before)
    return list(shares.order_by("-id")[:limit])


def share_for_clinician(*, clinician: Any, session_id: str) -> ConversationShare | None:
    """The share of ``session_id`` if it reaches ``clinician`` (assigned to its patient), else None."""
    if not is_clinician(clinician):
        return None
    return (
        ConversationShare.objects.filter(session_id=session_id, patient__clinicians=clinician)
        .select_related("patient__user")
        .order_by("id")
        .first()
    )
