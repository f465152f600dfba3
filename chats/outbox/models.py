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


class Erasure(models.Model):
    """A patient's request to erase chats: the record that it was asked, by whom, and when it finished.

    It is also the tombstone of its scope: an outbox entry of the same user (and session, when
    ``session_id`` is set) created before ``requested_at`` is never delivered (see
    ``chats.outbox.services``). ``completed_at`` stays empty until the chat store confirmed the
    deletion; pending erasures are completed by ``sync_outbox`` (every minute) and on retry.
    """

    user_id = models.BigIntegerField()
    session_id = models.CharField(
        max_length=64, blank=True, default="", help_text="Empty: every session of the user (clear-all)."
    )
    requested_by_id = models.BigIntegerField(null=True, blank=True)
    requested_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    kept_session_ids = models.JSONField(
        default=list, blank=True, help_text="Sessions under legal hold: hidden, not destroyed."
    )
    shredded_key_ids = models.JSONField(
        default=list,
        blank=True,
        help_text="The patient's destroyed data keys (crypto-shredding), as hex ids.",
    )
    key_shredded_at = models.DateTimeField(null=True, blank=True)
    account_deleted = models.BooleanField(
        default=False,
        help_text="The erasure of a deleted account: every outbox entry of the user goes, whenever made.",
    )
    rechecked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=(
            "Account erasures: when the second pass ran, once every request of the account that was"
            " in flight at the deletion had ended (CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS later)."
        ),
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["user_id", "requested_at"], name="erasure_user_idx"),
            models.Index(fields=["completed_at", "id"], name="erasure_pending_idx"),
        ]

    def __str__(self) -> str:
        scope = f"session {self.session_id}" if self.session_id else "all chats"
        return f"erasure of {scope} of user {self.user_id}"

    @property
    def scope(self) -> str:
        """``session`` (a permanent delete) or ``all`` (clear-all)."""
        return "session" if self.session_id else "all"

    @property
    def completed(self) -> bool:
        return self.completed_at is not None
