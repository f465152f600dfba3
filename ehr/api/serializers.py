"""EHR API serializers. A record's serializer validates input (types, lengths, choices, the
model's field validators) and renders output; cross-field rules (units per code, end after start)
are the model's and come back from ``ehr.services`` as 400s with the same messages.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User
from ehr.models import Allergy, Condition, Encounter, Medication, Observation, PatientProfile

RECORD_TIMESTAMPS = ["created_at", "updated_at"]


class UpperCaseCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        return str(super().to_internal_value(data)).upper()


class AllergySerializer(serializers.ModelSerializer):
    class Meta:
        model = Allergy
        fields = ["id", "substance", "reaction", "severity", "active", *RECORD_TIMESTAMPS]
        read_only_fields = ["id", *RECORD_TIMESTAMPS]


class MedicationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Medication
        fields = ["id", "name", "dose", "frequency", "start_date", "end_date", "active", *RECORD_TIMESTAMPS]
        read_only_fields = ["id", *RECORD_TIMESTAMPS]


class ConditionSerializer(serializers.ModelSerializer):
    icd10_code = UpperCaseCharField(
        max_length=8, help_text="ICD-10 code, e.g. E11.9 (letters are upper-cased; the format is validated)."
    )

    class Meta:
        model = Condition
        fields = ["id", "icd10_code", "description", "status", "onset_date", *RECORD_TIMESTAMPS]
        read_only_fields = ["id", *RECORD_TIMESTAMPS]


class EncounterSerializer(serializers.ModelSerializer):
    clinician = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(role=User.Role.CLINICIAN),
        allow_null=True,
        required=False,
        help_text="User id of the clinician; defaults to the clinician creating the encounter.",
        error_messages={
            "does_not_exist": "User {pk_value} is not a clinician: choose a user with the clinician role."
        },
    )
    clinician_username = serializers.CharField(source="clinician.username", read_only=True, allow_null=True)

    class Meta:
        model = Encounter
        fields = ["id", "date", "type", "clinician", "clinician_username", "notes", *RECORD_TIMESTAMPS]
        read_only_fields = ["id", "clinician_username", *RECORD_TIMESTAMPS]


class ObservationSerializer(serializers.ModelSerializer):
    code_display = serializers.CharField(source="get_code_display", read_only=True)

    class Meta:
        model = Observation
        fields = ["id", "code", "code_display", "value", "unit", "taken_at", *RECORD_TIMESTAMPS]
        read_only_fields = ["id", "code_display", *RECORD_TIMESTAMPS]


class ClinicianOutput(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name"]
        read_only_fields = fields


class PatientOutput(serializers.ModelSerializer):
    """A row of the patient list."""

    username = serializers.CharField(source="user.username", read_only=True)
    first_name = serializers.CharField(source="user.first_name", read_only=True)
    last_name = serializers.CharField(source="user.last_name", read_only=True)

    class Meta:
        model = PatientProfile
        fields = [
            "id",
            "user_id",
            "username",
            "first_name",
            "last_name",
            "medical_record_number",
            "date_of_birth",
            "sex",
            "blood_type",
        ]
        read_only_fields = fields


class PatientUpdateInput(serializers.ModelSerializer):
    class Meta:
        model = PatientProfile
        fields = ["date_of_birth", "sex", "blood_type"]


class ChartOutput(serializers.Serializer):
    """The whole record: the profile, its clinicians and the newest entries of each kind."""

    patient = PatientOutput()
    clinicians = ClinicianOutput(many=True)
    allergies = AllergySerializer(many=True)
    medications = MedicationSerializer(many=True)
    conditions = ConditionSerializer(many=True)
    encounters = EncounterSerializer(many=True)
    observations = ObservationSerializer(many=True)
