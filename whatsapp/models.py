"""The WhatsApp channel's relational state (MySQL ``default``).

Message text is kept here only until it is handed to the chat store (inbound) or to the Graph API
(outbound), then cleared: it is PHI and never logged.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Contact(models.Model):
    """One WhatsApp number: whose it is, its opt-out state, its current session and last message."""

    phone_number = models.CharField(max_length=16, unique=True, help_text="E.164")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="whatsapp_contacts"
    )
    opted_out = models.BooleanField(default=False)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opted_in_at = models.DateTimeField(null=True, blank=True)
    last_inbound_at = models.DateTimeField(null=True, blank=True, help_text="Opens the 24-hour window.")
    session_id = models.CharField(max_length=64, blank=True, default="")
    session_last_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"WhatsApp contact {self.pk}"


class InboundMessage(models.Model):
    """One received ``wamid``: the unique constraint makes Meta's retries and racing workers no-ops."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        IGNORED = "ignored", "Ignored"

    wamid = models.CharField(max_length=255, unique=True)
    phone_number_id = models.CharField(max_length=64, help_text="Our business number that received it.")
    sender = models.CharField(max_length=32, help_text="The sender's number as WhatsApp sent it.")
    kind = models.CharField(max_length=32)
    text = models.TextField(blank=True, default="", help_text="Cleared once processed.")
    attachment = models.JSONField(default=dict, blank=True, help_text="Media metadata (no content).")
    sent_at = models.DateTimeField(help_text="WhatsApp's timestamp of the message.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.RECEIVED)
    outcome = models.CharField(max_length=64, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    user_id = models.BigIntegerField(null=True, blank=True)
    session_id = models.CharField(max_length=64, blank=True, default="")
    user_message_id = models.CharField(max_length=64, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "id"], name="wa_inbound_state_idx")]

    def __str__(self) -> str:
        return f"inbound {self.wamid} ({self.state})"


class OutboundReply(models.Model):
    """One reply to send, keyed by the assistant message id (or a derived key for channel notices).

    ``parts_sent`` and the ``OutboundPart`` rows are written after each accepted part, so a retried
    task resumes after the last part WhatsApp accepted and never sends a part twice.
    """

    class Kind(models.TextChoices):
        ANSWER = "answer", "Answer from the assistant"
        RECEIVED = "received", "Received while storage is down"
        WELCOME = "welcome", "Welcome to a new number"
        NOTICE = "notice", "Channel notice (link code, opted in, not answered)"
        OPT_OUT = "opt_out", "Opt-out confirmation (sent even though the number opted out)"

    class State(models.TextChoices):
        AWAITING_STORAGE = "awaiting_storage", "Waiting for the chat store"
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        NOT_SENT = "not_sent", "Not sent"
        FAILED = "failed", "Failed"

    reply_key = models.CharField(max_length=128, unique=True)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="replies")
    user_id = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message_id = models.CharField(
        max_length=64, blank=True, default="", help_text="The assistant message it carries, if any."
    )
    text = models.TextField(blank=True, default="", help_text="Cleared once sent.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=64, blank=True, default="")
    parts_total = models.PositiveSmallIntegerField(default=0)
    parts_sent = models.PositiveSmallIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["state", "id"], name="wa_outbound_state_idx")]

    def __str__(self) -> str:
        return f"reply {self.reply_key} ({self.state})"


class OutboundPart(models.Model):
    """One WhatsApp message we sent: its ``wamid`` ties delivery statuses back to the reply."""

    reply = models.ForeignKey(OutboundReply, on_delete=models.CASCADE, related_name="parts")
    index = models.PositiveSmallIntegerField()
    wamid = models.CharField(max_length=255, unique=True)
    status = models.CharField(max_length=16, blank=True, default="")
    error_code = models.IntegerField(null=True, blank=True)
    sent_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["reply_id", "index"]
        constraints = [models.UniqueConstraint(fields=["reply", "index"], name="wa_part_once")]

    def __str__(self) -> str:
        return f"part {self.index} of {self.reply_id}"


class LinkCode(models.Model):
    """A one-time code sent over WhatsApp; entered on the web page it proves the number is yours."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="link_codes")
    code_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the code, never the code.")
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"link code {self.pk}"
