"""Users live on MySQL (``default``); chat documents refer to them by plain integer id."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models

phone_number_validator = RegexValidator(
    regex=r"^\+[1-9]\d{6,14}$",
    message="Enter the phone number in international E.164 form, e.g. +4915112345678.",
)


class User(AbstractUser):
    """A Medibot account: a patient chatting with the bot, a clinician or staff member."""

    class Role(models.TextChoices):
        PATIENT = "patient", "Patient"
        CLINICIAN = "clinician", "Clinician"
        STAFF = "staff", "Staff"

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.PATIENT)
    # WhatsApp users are matched by phone number; optional, unique when present (NULLs don't collide).
    phone_number = models.CharField(
        max_length=16, unique=True, null=True, blank=True, validators=[phone_number_validator]
    )

    class Meta:
        ordering = ["id"]
        db_table = "accounts_user"

    def __str__(self) -> str:
        return self.username
