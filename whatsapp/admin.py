"""Read-only operator views of the channel: opt-outs, what was received, what was (not) sent and why.

Message text is never shown (it is cleared once handed on, and excluded while it waits)."""

from __future__ import annotations

from django.contrib import admin

from medibot.read_only_admin import ReadOnlyAdmin
from whatsapp.models import Contact, InboundMessage, OutboundReply


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["id", "user_id", "opted_out", "opted_out_at", "last_inbound_at", "created_at"]
    list_filter = ["opted_out"]
    fields = [
        "user",
        "opted_out",
        "opted_out_at",
        "opted_in_at",
        "last_inbound_at",
        "session_id",
        "created_at",
    ]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["id", "wamid", "kind", "state", "outcome", "user_id", "received_at"]
    list_filter = ["state", "kind", "outcome"]
    search_fields = ["=wamid", "=session_id"]
    fields = [
        "wamid",
        "kind",
        "attachment",
        "state",
        "outcome",
        "user_id",
        "session_id",
        "user_message_id",
        "sent_at",
        "received_at",
        "processed_at",
    ]


@admin.register(OutboundReply)
class OutboundReplyAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "reply_key",
        "kind",
        "state",
        "reason",
        "parts_sent",
        "parts_total",
        "attempts",
        "created_at",
    ]
    list_filter = ["state", "kind", "reason"]
    search_fields = ["=reply_key", "=message_id", "=parts__wamid"]
    fields = [
        "reply_key",
        "kind",
        "message_id",
        "user_id",
        "state",
        "reason",
        "parts_total",
        "parts_sent",
        "attempts",
        "last_error",
        "created_at",
        "sent_at",
    ]
