"""Fetching a patient *with* the permission check, and the audit events of reads.

Read: the patient themself, an assigned clinician, staff. Change: an assigned clinician only.
Someone who may not read an existing patient gets "not found" and leaves a ``denied`` event in
the patient's access log; someone who may read but not change gets ChangeNotAllowed (403).
Writes record their own events in ``ehr.services``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from audit import services as audit
from audit.models import AuditEvent
from ehr import selectors
from ehr.exceptions import ChangeNotAllowed, PatientNotFound
from ehr.models import PatientProfile

PATIENT = "ehr.patientprofile"


def access_patient(*, user: Any, patient_id: int, action: str, request: HttpRequest | None) -> PatientProfile:
    """The patient ``user`` may ``action`` (an AuditEvent.Action); PatientNotFound or ChangeNotAllowed."""
    try:
        patient = selectors.get_patient(user=user, patient_id=patient_id)
    except PatientNotFound:
        _denied(user, action, PATIENT, str(patient_id), selectors.owner_of(patient_id=patient_id), request)
        raise
    if action != AuditEvent.Action.READ and not selectors.can_change(user=user, patient=patient):
        _denied(user, action, PATIENT, str(patient.pk), patient.user_id, request)
        raise ChangeNotAllowed()
    return patient


def record_read(
    *, user: Any, patient: PatientProfile, object_type: str, object_id: Any = "", request: HttpRequest | None
) -> None:
    """A read of one object of the patient (``object_id``) or of one of their lists (no id)."""
    audit.record_access(
        actor=user,
        action=AuditEvent.Action.READ,
        object_type=object_type,
        object_id=str(object_id),
        owner_id=patient.user_id,
        request=request,
    )


def record_patients_listed(
    *, user: Any, patients: Iterable[PatientProfile], request: HttpRequest | None
) -> None:
    audit.record_accesses(
        actor=user,
        accesses=[audit.Access(AuditEvent.Action.READ, PATIENT, str(p.pk), p.user_id) for p in patients],
        request=request,
    )


def _denied(
    user: Any,
    action: str,
    object_type: str,
    object_id: str,
    owner_id: int | None,
    request: HttpRequest | None,
) -> None:
    if owner_id is None:
        return  # no such patient: nobody's data was at stake
    audit.record_access(
        actor=user,
        action=action,
        object_type=object_type,
        object_id=object_id,
        owner_id=owner_id,
        outcome=AuditEvent.Outcome.DENIED,
        request=request,
    )
