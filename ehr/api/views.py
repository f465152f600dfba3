"""EHR API: thin views over ehr.access (who may see what), ehr.selectors and ehr.services.

``/me`` is the caller's own record. ``/patients/`` are the records the caller may read (staff: all,
clinicians: their assigned patients, patients: their own); only an assigned clinician writes.
Someone else's record is a 404, a readable but not writable one a 403 on writes. Reads of someone
else's record are audited here, writes in ehr.services.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend, FilterSet
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.mixins import ListModelMixin
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response

from audit.models import AuditEvent
from ehr import access, selectors, services
from ehr.api import serializers as io
from ehr.api.filters import PatientFilter
from ehr.models import PatientProfile, PatientRecord
from medibot.pagination import StrictCursorPagination

ACTION_BY_METHOD = {
    "POST": AuditEvent.Action.CREATE,
    "PATCH": AuditEvent.Action.CHANGE,
    "PUT": AuditEvent.Action.CHANGE,
    "DELETE": AuditEvent.Action.DELETE,
}


class EhrCursorPagination(StrictCursorPagination):
    """Newest first, bounded pages; a malformed cursor is a 400."""

    ordering = "-id"


class PatientCursorPagination(EhrCursorPagination):
    ordering = "id"


class EhrApi(GenericAPIView):
    """Base of the EHR views; subclasses that also inherit ``ListModelMixin`` only do so to tell the
    schema generator that they answer with a filtered, paginated list (their ``get`` is their own)."""

    filter_backends = [DjangoFilterBackend]
    pagination_class: type[BasePagination] | None = None
    filterset_class: type[FilterSet] | None = None
    model: type[Model] = PatientProfile

    def get_queryset(self) -> QuerySet[Any]:
        """The model as the schema generator sees it; handlers fetch through ehr.access/selectors."""
        return self.model._default_manager.none()

    def valid_input(self, data: Any, *, instance: Any = None, partial: bool = False) -> dict[str, Any]:
        serializer = self.get_serializer(instance, data=data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class MyChartApi(EhrApi):
    """GET /api/ehr/me: the caller's own record (404 when they have none)."""

    serializer_class = io.ChartOutput

    def get(self, request: Request) -> Response:
        patient = selectors.own_profile(user=request.user)
        return Response(io.ChartOutput(selectors.chart(patient=patient)).data)


class MyRecordListApi(ListModelMixin, EhrApi):
    """GET /api/ehr/me/<kind>/: the caller's own entries of one kind, filtered and paged."""

    pagination_class = EhrCursorPagination
    model: type[PatientRecord]

    def get(self, request: Request) -> Response:
        patient = selectors.own_profile(user=request.user)
        records = self.filter_queryset(selectors.patient_records(patient=patient, model=self.model))
        page = self.paginate_queryset(records)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class PatientListApi(ListModelMixin, EhrApi):
    """GET /api/ehr/patients/: the profiles the caller may read (each listed one is audited)."""

    serializer_class = io.PatientOutput
    filterset_class = PatientFilter
    pagination_class = PatientCursorPagination

    def get(self, request: Request) -> Response:
        patients = self.filter_queryset(selectors.visible_patients(user=request.user))
        page = list(self.paginate_queryset(patients) or [])
        access.record_patients_listed(user=request.user, patients=page, request=request)
        return self.get_paginated_response(io.PatientOutput(page, many=True).data)


class PatientDetailApi(EhrApi):
    """GET one patient's record; PATCH their date of birth, sex or blood type (assigned clinician)."""

    serializer_class = io.ChartOutput

    def get(self, request: Request, patient_id: int) -> Response:
        patient = access.access_patient(
            user=request.user, patient_id=patient_id, action=AuditEvent.Action.READ, request=request
        )
        chart = selectors.chart(patient=patient)
        access.record_read(
            user=request.user,
            patient=patient,
            object_type=access.PATIENT,
            object_id=patient.pk,
            request=request,
        )
        return Response(io.ChartOutput(chart).data)

    @extend_schema(request=io.PatientUpdateInput, responses=io.ChartOutput)
    def patch(self, request: Request, patient_id: int) -> Response:
        patient = access.access_patient(
            user=request.user, patient_id=patient_id, action=AuditEvent.Action.CHANGE, request=request
        )
        serializer = io.PatientUpdateInput(patient, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.update_patient_profile(
            actor=request.user, patient=patient, changes=serializer.validated_data, request=request
        )
        return Response(io.ChartOutput(selectors.chart(patient=patient)).data)


class RecordListApi(ListModelMixin, EhrApi):
    """GET a patient's entries of one kind (filtered, paged); POST a new one (assigned clinician)."""

    pagination_class = EhrCursorPagination
    model: type[PatientRecord]

    def get(self, request: Request, patient_id: int) -> Response:
        patient = access.access_patient(
            user=request.user, patient_id=patient_id, action=AuditEvent.Action.READ, request=request
        )
        records = self.filter_queryset(selectors.patient_records(patient=patient, model=self.model))
        page = self.paginate_queryset(records)
        access.record_read(
            user=request.user, patient=patient, object_type=self.model._meta.label_lower, request=request
        )
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def post(self, request: Request, patient_id: int) -> Response:
        patient = access.access_patient(
            user=request.user, patient_id=patient_id, action=AuditEvent.Action.CREATE, request=request
        )
        record = services.create_record(
            actor=request.user,
            patient=patient,
            model=self.model,
            fields=self.valid_input(request.data),
            request=request,
        )
        return Response(self.get_serializer(record).data, status=status.HTTP_201_CREATED)


class RecordDetailApi(EhrApi):
    """GET, PATCH, PUT or DELETE one entry of a patient's record."""

    model: type[PatientRecord]

    def _record(
        self, request: Request, patient_id: int, record_id: int
    ) -> tuple[PatientProfile, PatientRecord]:
        action = ACTION_BY_METHOD.get(request.method or "", AuditEvent.Action.READ)
        patient = access.access_patient(
            user=request.user, patient_id=patient_id, action=action, request=request
        )
        return patient, selectors.get_record(patient=patient, model=self.model, record_id=record_id)

    def get(self, request: Request, patient_id: int, record_id: int) -> Response:
        patient, record = self._record(request, patient_id, record_id)
        access.record_read(
            user=request.user,
            patient=patient,
            object_type=self.model._meta.label_lower,
            object_id=record.pk,
            request=request,
        )
        return Response(self.get_serializer(record).data)

    def patch(self, request: Request, patient_id: int, record_id: int) -> Response:
        return self._update(request, patient_id, record_id, partial=True)

    def put(self, request: Request, patient_id: int, record_id: int) -> Response:
        return self._update(request, patient_id, record_id, partial=False)

    def delete(self, request: Request, patient_id: int, record_id: int) -> Response:
        _, record = self._record(request, patient_id, record_id)
        services.delete_record(actor=request.user, record=record, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request: Request, patient_id: int, record_id: int, *, partial: bool) -> Response:
        _, record = self._record(request, patient_id, record_id)
        changes = self.valid_input(request.data, instance=record, partial=partial)
        record = services.update_record(actor=request.user, record=record, changes=changes, request=request)
        return Response(self.get_serializer(record).data)
