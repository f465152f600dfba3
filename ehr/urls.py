"""EHR API routes: the caller's own record, and patients' records with one route pair per kind."""

from django.urls import URLPattern, path

from ehr.api import filters, views
from ehr.api import serializers as io
from ehr.models import Allergy, Condition, Encounter, Medication, Observation

RECORD_KINDS = {
    "allergies": {
        "model": Allergy,
        "serializer_class": io.AllergySerializer,
        "filterset_class": filters.AllergyFilter,
    },
    "medications": {
        "model": Medication,
        "serializer_class": io.MedicationSerializer,
        "filterset_class": filters.MedicationFilter,
    },
    "conditions": {
        "model": Condition,
        "serializer_class": io.ConditionSerializer,
        "filterset_class": filters.ConditionFilter,
    },
    "encounters": {
        "model": Encounter,
        "serializer_class": io.EncounterSerializer,
        "filterset_class": filters.EncounterFilter,
    },
    "observations": {
        "model": Observation,
        "serializer_class": io.ObservationSerializer,
        "filterset_class": filters.ObservationFilter,
    },
}

urlpatterns: list[URLPattern] = [
    path("me", views.MyChartApi.as_view(), name="ehr-me"),
    path("patients/", views.PatientListApi.as_view(), name="ehr-patients"),
    path("patients/<int:patient_id>/", views.PatientDetailApi.as_view(), name="ehr-patient"),
]
for slug, kind in RECORD_KINDS.items():
    urlpatterns += [
        path(f"me/{slug}/", views.MyRecordListApi.as_view(**kind), name=f"ehr-me-{slug}"),
        path(
            f"patients/<int:patient_id>/{slug}/",
            views.RecordListApi.as_view(**kind),
            name=f"ehr-patient-{slug}",
        ),
        path(
            f"patients/<int:patient_id>/{slug}/<int:record_id>/",
            views.RecordDetailApi.as_view(**kind),
            name=f"ehr-patient-{slug}-detail",
        ),
    ]
