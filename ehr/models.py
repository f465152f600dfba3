"""Patient records on MySQL ``default``: one profile per user and its clinical entries.

Every invariant of a single row is a field validator, ``clean()`` or a constraint, so the API
(through ``ehr.services``, which runs ``full_clean``) and the admin refuse the same input with the
same message. ``__str__`` never shows clinical values: it ends up in the admin's LogEntry table.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User

CLINICIANS_ONLY = {"role": User.Role.CLINICIAN}

medical_record_number_validator = RegexValidator(
    regex=r"^[A-Z0-9][A-Z0-9-]{3,31}$",
    message="A medical record number is 4 to 32 upper-case letters, digits or dashes, e.g. MRN-000123.",
)
icd10_code_validator = RegexValidator(
    regex=r"^[A-TV-Z][0-9][0-9AB](\.[0-9A-TV-Z]{1,4})?$",
    message=(
        "Enter an ICD-10 code such as E11.9 or J45.909: an upper-case letter (not U), two digits "
        "(or a digit and A/B), then optionally a dot and 1 to 4 characters."
    ),
)


def validate_not_in_future(value: date | datetime) -> None:
    """Dates and times of things that already happened (birth, onset, encounter, measurement)."""
    if isinstance(value, datetime):
        if value > timezone.now():
            raise ValidationError("This date and time is in the future.", code="future")
    elif value > timezone.localdate():
        raise ValidationError("This date is in the future.", code="future")


class PatientProfile(models.Model):
    """The EHR of one user (role patient), with the clinicians assigned to them."""

    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Unknown"

    class BloodType(models.TextChoices):
        A_POSITIVE = "A+", "A+"
        A_NEGATIVE = "A-", "A-"
        B_POSITIVE = "B+", "B+"
        B_NEGATIVE = "B-", "B-"
        AB_POSITIVE = "AB+", "AB+"
        AB_NEGATIVE = "AB-", "AB-"
        O_POSITIVE = "O+", "O+"
        O_NEGATIVE = "O-", "O-"
        UNKNOWN = "unknown", "Unknown"

    EDITABLE_FIELDS: ClassVar[tuple[str, ...]] = ("date_of_birth", "sex", "blood_type")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient_profile"
    )
    medical_record_number = models.CharField(
        max_length=32, unique=True, validators=[medical_record_number_validator]
    )
    date_of_birth = models.DateField(validators=[validate_not_in_future])
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    blood_type = models.CharField(max_length=8, choices=BloodType.choices, default=BloodType.UNKNOWN)
    clinicians = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="assigned_patients",
        limit_choices_to=CLINICIANS_ONLY,
        help_text="Clinicians who may read and change this record.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"patient profile #{self.pk}"


class PatientRecord(models.Model):
    """What every clinical entry shares; ``EDITABLE_FIELDS`` are those the API may set."""

    EDITABLE_FIELDS: ClassVar[tuple[str, ...]] = ()

    patient: models.ForeignKey[PatientProfile, PatientProfile]
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} #{self.pk}"


class Allergy(PatientRecord):
    class Severity(models.TextChoices):
        MILD = "mild", "Mild"
        MODERATE = "moderate", "Moderate"
        SEVERE = "severe", "Severe"
        LIFE_THREATENING = "life_threatening", "Life-threatening"

    EDITABLE_FIELDS = ("substance", "reaction", "severity", "active")

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="allergies")
    substance = models.CharField(max_length=200)
    reaction = models.CharField(max_length=200, blank=True, default="")
    severity = models.CharField(max_length=16, choices=Severity.choices, default=Severity.MODERATE)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "allergies"
        indexes = [models.Index(fields=["patient", "active"], name="ehr_allergy_active_idx")]


class Medication(PatientRecord):
    EDITABLE_FIELDS = ("name", "dose", "frequency", "start_date", "end_date", "active")

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="medications")
    name = models.CharField(max_length=200)
    dose = models.CharField(max_length=64, help_text='Amount per dose, e.g. "500 mg".')
    frequency = models.CharField(max_length=64, help_text='e.g. "twice daily".')
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["patient", "active"], name="ehr_medication_active_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=F("start_date")),
                name="ehr_medication_ends_after_start",
                violation_error_message="The end date cannot be before the start date.",
            )
        ]

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": "The end date cannot be before the start date."})


class Condition(PatientRecord):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RECURRENCE = "recurrence", "Recurrence"
        RELAPSE = "relapse", "Relapse"
        INACTIVE = "inactive", "Inactive"
        REMISSION = "remission", "Remission"
        RESOLVED = "resolved", "Resolved"

    ACTIVE_STATUSES: ClassVar[tuple[str, ...]] = (Status.ACTIVE, Status.RECURRENCE, Status.RELAPSE)
    EDITABLE_FIELDS = ("icd10_code", "description", "status", "onset_date")

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="conditions")
    icd10_code = models.CharField("ICD-10 code", max_length=8, validators=[icd10_code_validator])
    description = models.CharField(max_length=255)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    onset_date = models.DateField(null=True, blank=True, validators=[validate_not_in_future])

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["patient", "status"], name="ehr_condition_status_idx")]


class Encounter(PatientRecord):
    class Type(models.TextChoices):
        OUTPATIENT = "outpatient", "Outpatient visit"
        INPATIENT = "inpatient", "Inpatient stay"
        EMERGENCY = "emergency", "Emergency"
        TELEHEALTH = "telehealth", "Telehealth"
        HOME_VISIT = "home_visit", "Home visit"

    EDITABLE_FIELDS = ("date", "type", "clinician", "notes")

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="encounters")
    date = models.DateField(validators=[validate_not_in_future])
    type = models.CharField(max_length=16, choices=Type.choices, default=Type.OUTPATIENT)
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="encounters",
        limit_choices_to=CLINICIANS_ONLY,
        error_messages={
            "invalid": "User %(value)r is not a clinician: choose a user with the clinician role."
        },
    )
    notes = models.TextField(blank=True, default="", max_length=10_000)

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [models.Index(fields=["patient", "date"], name="ehr_encounter_date_idx")]


class Observation(PatientRecord):
    """A vital sign or lab result, coded with LOINC; units are UCUM codes allowed for that code."""

    class Code(models.TextChoices):
        HEART_RATE = "8867-4", "Heart rate"
        RESPIRATORY_RATE = "9279-1", "Respiratory rate"
        SYSTOLIC_BP = "8480-6", "Systolic blood pressure"
        DIASTOLIC_BP = "8462-4", "Diastolic blood pressure"
        BODY_TEMPERATURE = "8310-5", "Body temperature"
        OXYGEN_SATURATION = "59408-5", "Oxygen saturation (pulse oximetry)"
        BODY_WEIGHT = "29463-7", "Body weight"
        BODY_HEIGHT = "8302-2", "Body height"
        GLUCOSE = "2339-0", "Blood glucose"
        HBA1C = "4548-4", "Hemoglobin A1c"
        TOTAL_CHOLESTEROL = "2093-3", "Total cholesterol"
        CREATININE = "2160-0", "Serum creatinine"

    ALLOWED_UNITS: ClassVar[dict[str, tuple[str, ...]]] = {
        Code.HEART_RATE: ("/min",),
        Code.RESPIRATORY_RATE: ("/min",),
        Code.SYSTOLIC_BP: ("mm[Hg]",),
        Code.DIASTOLIC_BP: ("mm[Hg]",),
        Code.BODY_TEMPERATURE: ("Cel", "[degF]"),
        Code.OXYGEN_SATURATION: ("%",),
        Code.BODY_WEIGHT: ("kg", "[lb_av]"),
        Code.BODY_HEIGHT: ("cm", "[in_i]"),
        Code.GLUCOSE: ("mg/dL", "mmol/L"),
        Code.HBA1C: ("%", "mmol/mol"),
        Code.TOTAL_CHOLESTEROL: ("mg/dL", "mmol/L"),
        Code.CREATININE: ("mg/dL", "umol/L"),
    }
    EDITABLE_FIELDS = ("code", "value", "unit", "taken_at")

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="observations")
    code = models.CharField("LOINC code", max_length=16, choices=Code.choices)
    value = models.DecimalField(max_digits=10, decimal_places=3, validators=[MinValueValidator(0)])
    unit = models.CharField(max_length=16, help_text="UCUM unit allowed for the code, e.g. mm[Hg].")
    taken_at = models.DateTimeField(validators=[validate_not_in_future])

    class Meta:
        ordering = ["-taken_at", "-id"]
        indexes = [models.Index(fields=["patient", "code", "taken_at"], name="ehr_observation_code_idx")]

    def clean(self) -> None:
        allowed = self.ALLOWED_UNITS.get(self.code)
        if allowed and self.unit not in allowed:
            label = self.Code(self.code).label
            raise ValidationError(
                {"unit": f"{label} ({self.code}) is recorded in {' or '.join(allowed)}, not {self.unit!r}."}
            )


class ConversationShare(models.Model):
    """One of the patient's chat conversations shared with their care team: the clinicians assigned
    to the patient *when they read it* (``PatientProfile.clinicians``), so unassigning a clinician
    or deleting this row revokes access at once. The conversation itself lives on MongoDB
    (``session_id`` is its public id, no cross-database key); deleting it deletes its shares."""

    patient = models.ForeignKey(PatientProfile, on_delete=models.CASCADE, related_name="conversation_shares")
    session_id = models.CharField(max_length=64)
    shared_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["patient", "session_id"], name="uniq_share_per_conversation")
        ]
        indexes = [models.Index(fields=["session_id"], name="share_session_idx")]

    def __str__(self) -> str:
        return f"conversation share #{self.pk}"
