"""Outbox entries (MySQL). Payloads hold message text: they are PHI and never logged."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxEntry(models.Model):
    class Kind(models.TextChoices):
        SESSION = "session", "Start a session"
        MESSAGE = "message", "Append a message"
        REPLY = "reply", "Store an assistant reply with its token usage"
        VOTE = "vote", "Vote on a message"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    user_id = models.BigIntegerField()
    session_id = models.CharField(max_length=64, blank=True, default="")
    object_id = models.CharField(max_length=64, help_text="The id the API answered with (message/session).")
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "outbox entries"
        indexes = [
            models.Index(fields=["status", "id"], name="outbox_status_idx"),
            models.Index(fields=["user_id", "session_id", "status"], name="outbox_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id} ({self.status})"
