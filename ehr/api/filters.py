"""Query-string filters of the EHR lists (django-filter); invalid values are 400s naming the field."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile


class PatientFilter(filters.FilterSet):
    q = filters.CharFilter(
        method="search", help_text="Username, first or last name, or record number contains."
    )
    medical_record_number = filters.CharFilter(lookup_expr="iexact")
    sex = filters.ChoiceFilter(choices=PatientProfile.Sex.choices)
    blood_type = filters.ChoiceFilter(choices=PatientProfile.BloodType.choices)
    born_after = filters.DateFilter(field_name="date_of_birth", lookup_expr="gte")
    born_before = filters.DateFilter(field_name="date_of_birth", lookup_expr="lte")

    class Meta:
        model = PatientProfile
        fields = ["q", "medical_record_number", "sex", "blood_type", "born_after", "born_before"]

    def search(self, queryset: QuerySet[PatientProfile], name: str, value: str) -> QuerySet[PatientProfile]:
        term = value.strip()
        if not term:
            return queryset
        return queryset.filter(
            Q(user__username__icontains=term)
            | Q(user__first_name__icontains=term)
            | Q(user__last_name__icontains=term)
            | Q(medical_record_number__icontains=term)
        )


class AllergyFilter(filters.FilterSet):
    active = filters.BooleanFilter()
    severity = filters.ChoiceFilter(choices=Allergy.Severity.choices)
    substance = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Allergy
        fields = ["active", "severity", "substance"]


class MedicationFilter(filters.FilterSet):
    active = filters.BooleanFilter()
    name = filters.CharFilter(lookup_expr="icontains")
    started_after = filters.DateFilter(field_name="start_date", lookup_expr="gte")
    started_before = filters.DateFilter(field_name="start_date", lookup_expr="lte")

    class Meta:
        model = Medication
        fields = ["active", "name", "started_after", "started_before"]


class ConditionFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=Condition.Status.choices)
    icd10_code = filters.CharFilter(lookup_expr="istartswith", help_text="Code starts with, e.g. E11.")

    class Meta:
        model = Condition
        fields = ["status", "icd10_code"]


class EncounterFilter(filters.FilterSet):
    type = filters.ChoiceFilter(choices=Encounter.Type.choices)
    clinician = filters.NumberFilter(field_name="clinician_id")
    date_after = filters.DateFilter(field_name="date", lookup_expr="gte")
    date_before = filters.DateFilter(field_name="date", lookup_expr="lte")

    class Meta:
        model = Encounter
        fields = ["type", "clinician", "date_after", "date_before"]


class ObservationFilter(filters.FilterSet):
    code = filters.ChoiceFilter(choices=Observation.Code.choices)
    taken_after = filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")
    taken_before = filters.IsoDateTimeFilter(field_name="taken_at", lookup_expr="lte")

    class Meta:
        model = Observation
        fields = ["code", "taken_after", "taken_before"]
