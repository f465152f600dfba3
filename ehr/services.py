"""EHR writes. Each validates with the model's own rules (``full_clean``), saves, and records the
audit event in the same transaction: a change that is not audited does not happen.

Logs carry ids only, never clinical values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.http import HttpRequest

from accounts.models import User
from audit import services as audit
from audit.models import AuditEvent
from ehr import selectors
from ehr.exceptions import InvalidRecord, NoCareTeam
from ehr.models import ConversationShare, Encounter, PatientProfile, PatientRecord

logger = logging.getLogger(__name__)

ModelT = TypeVar("ModelT", bound=models.Model)
RecordT = TypeVar("RecordT", bound=PatientRecord)


@transaction.atomic
def create_patient_profile(
    *,
    user: User,
    medical_record_number: str,
    date_of_birth: date,
    sex: str = PatientProfile.Sex.UNKNOWN,
    blood_type: str = PatientProfile.BloodType.UNKNOWN,
) -> PatientProfile:
    """The EHR of ``user`` (one per user); InvalidRecord names every refused field."""
    if PatientProfile.objects.filter(user=user).exists():
        raise InvalidRecord({"user": ["This user already has a patient profile."]})
    patient = PatientProfile(
        user=user,
        medical_record_number=medical_record_number.strip().upper(),
        date_of_birth=date_of_birth,
        sex=sex,
        blood_type=blood_type,
    )
    _validated(patient).save()
    logger.info("patient profile created", extra={"patient_id": patient.pk, "user_id": user.pk})
    return patient


@transaction.atomic
def update_patient_profile(
    *, actor: Any, patient: PatientProfile, changes: Mapping[str, Any], request: HttpRequest | None = None
) -> PatientProfile:
    """Change date of birth, sex or blood type (the record number and owner never change here)."""
    _assign(patient, changes, PatientProfile.EDITABLE_FIELDS)
    _validated(patient).save()
    _audit(actor, AuditEvent.Action.CHANGE, patient, patient.pk, patient.user_id, request)
    return patient


@transaction.atomic
def assign_clinician(*, patient: PatientProfile, clinician: User) -> None:
    """Give a clinician read and write access to this patient's record (idempotent)."""
    if clinician.role != User.Role.CLINICIAN:
        raise InvalidRecord(
            {"clinician": ["Only users with the clinician role can be assigned to a patient."]}
        )
    patient.clinicians.add(clinician)
    logger.info("clinician assigned", extra={"patient_id": patient.pk, "clinician_id": clinician.pk})


@transaction.atomic
def create_record(
    *,
    actor: Any,
    patient: PatientProfile,
    model: type[RecordT],
    fields: Mapping[str, Any],
    request: HttpRequest | None = None,
) -> RecordT:
    """A new allergy, medication, condition, encounter or observation of ``patient``.

    An encounter recorded by a clinician without naming one is theirs.
    """
    record = model(patient=patient)
    _assign(record, fields, model.EDITABLE_FIELDS)
    if isinstance(record, Encounter) and "clinician" not in fields and selectors.is_clinician(actor):
        record.clinician = actor
    _validated(record).save()
    _audit(actor, AuditEvent.Action.CREATE, record, record.pk, patient.user_id, request)
    return record


@transaction.atomic
def update_record(
    *, actor: Any, record: RecordT, changes: Mapping[str, Any], request: HttpRequest | None = None
) -> RecordT:
    """Change the given editable fields of a record; the patient it belongs to never changes."""
    _assign(record, changes, record.EDITABLE_FIELDS)
    _validated(record).save()
    _audit(actor, AuditEvent.Action.CHANGE, record, record.pk, record.patient.user_id, request)
    return record


@transaction.atomic
def delete_record(*, actor: Any, record: PatientRecord, request: HttpRequest | None = None) -> None:
    record_id, owner_id = record.pk, record.patient.user_id
    record.delete()
    _audit(actor, AuditEvent.Action.DELETE, record, record_id, owner_id, request)


def _assign(instance: models.Model, values: Mapping[str, Any], editable: tuple[str, ...]) -> None:
    refused = sorted(set(values) - set(editable))
    if refused:
        raise InvalidRecord({name: ["This field cannot be set."] for name in refused})
    for name, value in values.items():
        setattr(instance, name, value)


def _validated(instance: ModelT) -> ModelT:
    try:
        instance.full_clean()
    except ValidationError as exc:
        raise InvalidRecord({field: list(messages) for field, messages in exc.message_dict.items()}) from exc
    return instance


def _audit(
    actor: Any,
    action: str,
    instance: models.Model,
    object_id: Any,
    owner_id: int,
    request: HttpRequest | None,
) -> None:
    audit.record_access(
        actor=actor,
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(object_id),
        owner_id=owner_id,
        request=request,
    )
    logger.info(
        "ehr %s",
        action,
        extra={
            "object_type": instance._meta.label_lower,
            "object_id": object_id,
            "actor_id": audit.actor_id_of(actor),
        },
    )


# --- conversations shared with the care team ---------------------------------------------------------
# The chat service checks that the conversation is the patient's own before it calls these.


@transaction.atomic
def share_conversation(
    *, patient_user: User, session_id: str, request: HttpRequest | None = None
) -> ConversationShare:
    """Share one of the patient's conversations with their care team (idempotent); NoCareTeam
    without a patient record or an assigned clinician. Audited as a create by the patient."""
    patient = PatientProfile.objects.filter(user_id=patient_user.pk).first()
    if patient is None or not patient.clinicians.exists():
        raise NoCareTeam()
    share, created = ConversationShare.objects.get_or_create(patient=patient, session_id=session_id)
    if created:
        _audit(patient_user, AuditEvent.Action.CREATE, share, session_id, patient_user.pk, request)
    return share


@transaction.atomic
def unshare_conversation(*, patient_user: User, session_id: str, request: HttpRequest | None = None) -> bool:
    """Stop sharing a conversation; from the next request no clinician can read it. Whether it was shared."""
    shares = ConversationShare.objects.filter(patient__user_id=patient_user.pk, session_id=session_id)
    deleted, _ = shares.delete()
    if deleted:
        _audit(
            patient_user, AuditEvent.Action.DELETE, ConversationShare(), session_id, patient_user.pk, request
        )
    return bool(deleted)


def remove_conversation_shares(*, patient_user_id: int, session_id: str = "") -> int:
    """The conversation (``session_id``), or all of the patient's (empty) is deleted or erased:
    its shares go with it. Returns how many were removed."""
    shares = ConversationShare.objects.filter(patient__user_id=patient_user_id)
    if session_id:
        shares = shares.filter(session_id=session_id)
    deleted, _ = shares.delete()
    if deleted:
        logger.info("conversation shares removed", extra={"user_id": patient_user_id, "shares": deleted})
    return deleted
