"""Audit events (MySQL ``default``): who touched whose chats or EHR, never what they saw.

Events are append-only and chained: each stores the hash of the event before it and its own hash
over its fields (see ``audit.chain``), so an edited, removed or inserted row breaks the chain and
``manage.py verify_audit`` names the first broken link. ``ChainHead`` is the lock every writer
takes so that concurrent writers queue up instead of forking the chain.
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import models

GENESIS_HASH = "0" * 64

# ``object_type`` is a model's "app.model" label (``_meta.label_lower``), or a name for derived data.
CHAT_SESSION = "chats.chatsession"
CHAT_MESSAGE = "chats.chatmessage"
CHAT_COUNTS = "chats.chat_counts"  # a user's session and message counts
CHAT_STATISTICS = "chats.statistics"  # aggregates over every user (no owner)
MAX_DETAIL_CHARS = 4000
CHAT_RETENTION = "chats.retention"  # a retention cleanup run over every user's sessions
CHAT_IMPORT = "chats.import"  # an import of the chat backup directory (a Celery task id)


class AppendOnlyViolation(Exception):
    """Someone tried to change or delete an audit event."""

    def __init__(self) -> None:
        super().__init__("Audit events are append-only: they cannot be changed or deleted.")


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    """Bulk updates and deletes are refused like single ones."""

    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyViolation

    def delete(self) -> NoReturn:
        raise AppendOnlyViolation

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AppendOnlyViolation

    def update_or_create(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyViolation


class AuditEvent(models.Model):
    """One access to someone else's data. ``sequence`` is the position in the chain (1, 2, 3, ...)."""

    class Action(models.TextChoices):
        READ = "read", "Read"
        EXPORT = "export", "Export"
        CREATE = "create", "Create"
        CHANGE = "change", "Change"
        DELETE = "delete", "Delete"

    class Outcome(models.TextChoices):
        OK = "ok", "Allowed"
        DENIED = "denied", "Denied"

    sequence = models.PositiveBigIntegerField(primary_key=True, editable=False)
    created_at = models.DateTimeField(editable=False)
    # Plain ids, no foreign keys: events outlive the accounts they name (like chat documents' user_id).
    actor_id = models.BigIntegerField(
        null=True, blank=True, help_text="Who accessed; empty for a system job."
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=64, help_text='"<app>.<model>", e.g. "ehr.allergy".')
    object_id = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Empty when a whole list of the owner's objects was read.",
    )
    owner_id = models.BigIntegerField(
        null=True, blank=True, help_text="Whose data it is; empty for aggregates that belong to nobody."
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.OK)
    detail = models.TextField(
        blank=True,
        default="",
        help_text='What exactly was shown, e.g. "messages 51-100 of 230"; empty when the object says it all.',
    )
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        indexes = [
            models.Index(fields=["owner_id", "-sequence"], name="audit_owner_idx"),
            models.Index(fields=["actor_id", "-sequence"], name="audit_actor_idx"),
        ]

    def __str__(self) -> str:
        return f"audit event {self.sequence}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Events are written by ``audit.services`` with ``bulk_create``; an existing one never changes."""
        if not self._state.adding:
            raise AppendOnlyViolation
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyViolation


class ChainHead(models.Model):
    """The newest event's sequence and hash (one row). Writers lock it; ``verify_audit`` compares it."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"audit chain head at event {self.sequence}"
