"""Users live on MySQL (``default``); chat documents refer to them by plain integer id."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.crypto import constant_time_compare

from accounts.languages import AUTO, SEARCH_LANGUAGE_CHOICES
from accounts.permissions import PERMISSIONS

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
    # The language the user's chats are stemmed in for search (chats.search); "auto" detects it
    # per message. Set from Accept-Language at registration, changed through PATCH /api/auth/me.
    search_language = models.CharField(max_length=8, choices=SEARCH_LANGUAGE_CHOICES, default=AUTO)

    class Meta:
        ordering = ["id"]
        db_table = "accounts_user"
        # Staff powers (accounts/permissions.py): granted through the "Support" and "Privacy officer"
        # groups, checked by the staff API and the admin alike.
        permissions = PERMISSIONS

    def __str__(self) -> str:
        return self.username

    @property
    def fixed_search_language(self) -> str | None:
        """The language to stem this user's chats in, or None to detect it per message."""
        return None if self.search_language == AUTO else self.search_language

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A changed password deletes the user's API tokens in the same save, whatever the path.

        ``ApiToken.is_live`` refuses them anyway (password fingerprint); this removes the rows.
        """
        password_changed = self.pk is not None and getattr(self, "_password", None) is not None
        super().save(*args, **kwargs)
        if password_changed:
            ApiToken.objects.filter(user_id=self.pk).delete()


class ApiToken(models.Model):
    """An API token, stored as the SHA-256 digest of its key: the key itself is shown once.

    ``password_fingerprint`` is the user's ``get_session_auth_hash()`` when the token was issued,
    so a password change made by any path (API, web page, admin, ``changepassword``,
    ``set_password()`` + ``save()`` in code) revokes every token issued before it, as Django
    does for web sessions.
    """

    digest = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    password_fingerprint = models.CharField(max_length=128)
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created", "digest"]
        db_table = "accounts_apitoken"
        indexes = [models.Index(fields=["user", "created"], name="accounts_apitoken_user")]

    def __str__(self) -> str:
        return f"API token of user {self.user_id}"

    def is_live(self, *, now: datetime) -> bool:
        """Not expired, and the user's password unchanged since the token was issued."""
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return constant_time_compare(self.password_fingerprint, self.user.get_session_auth_hash())

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
