"""Patient records in the admin: one page per patient with every kind of entry inline.

Every changelist page, opened record, save and delete is audited (audit.admin_access); the
entries' ``__str__`` carry no clinical values, so the admin's own LogEntry rows hold none either.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from audit.admin_access import AuditedAdminMixin
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile


class RecordInline(admin.TabularInline):
    extra = 0
    show_change_link = False
    readonly_fields = ["created_at", "updated_at"]


class AllergyInline(RecordInline):
    model = Allergy
    fields = ["substance", "reaction", "severity", "active", "created_at", "updated_at"]


class MedicationInline(RecordInline):
    model = Medication
    fields = ["name", "dose", "frequency", "start_date", "end_date", "active", "updated_at"]
    readonly_fields = ["updated_at"]


class ConditionInline(RecordInline):
    model = Condition
    fields = ["icd10_code", "description", "status", "onset_date", "updated_at"]
    readonly_fields = ["updated_at"]


class EncounterInline(admin.StackedInline):
    model = Encounter
    extra = 0
    fields = [("date", "type", "clinician"), "notes"]


class ObservationInline(RecordInline):
    model = Observation
    fields = ["code", "value", "unit", "taken_at"]
    readonly_fields = []


@admin.register(PatientProfile)
class PatientProfileAdmin(AuditedAdminMixin, admin.ModelAdmin):
    list_display = ["medical_record_number", "username", "date_of_birth", "sex", "blood_type", "updated_at"]
    list_filter = ["sex", "blood_type", ("clinicians", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["user"]
    search_fields = ["medical_record_number", "user__username", "user__first_name", "user__last_name"]
    raw_id_fields = ["user"]
    filter_horizontal = ["clinicians"]
    fields = ["user", "medical_record_number", "date_of_birth", "sex", "blood_type", "clinicians"]
    inlines = [AllergyInline, MedicationInline, ConditionInline, EncounterInline, ObservationInline]
    list_per_page = 50

    def audit_owner_id(self, obj: Any) -> int | None:
        return int(obj.user_id)

    @admin.display(description="user", ordering="user__username")
    def username(self, patient: PatientProfile) -> str:
        return patient.user.get_username()
