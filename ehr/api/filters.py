"""Query-string filters of the EHR lists (django-filter); invalid values are 400s naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField

from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


class CalendarIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 instant that stays a valid datetime in UTC (the database compares in UTC)."""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            in_utc = parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        except OverflowError:
            in_utc = None
        if in_utc is None or not EARLIEST <= in_utc <= LATEST:
            raise forms.ValidationError("Enter a date and time between 0001-01-02 and 9999-12-30.")
        return parsed


class CalendarIsoDateTimeFilter(filters.IsoDateTimeFilter):
    field_class = CalendarIsoDateTimeField


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
    taken_after = CalendarIsoDateTimeFilter(field_name="taken_at", lookup_expr="gte")
    taken_before = CalendarIsoDateTimeFilter(field_name="taken_at", lookup_expr="lte")

    class Meta:
        model = Observation
        fields = ["code", "taken_after", "taken_before"]
