"""Output of the audit API: who did what to which of your objects, and when (no IP, no content).

``detail`` says what exactly was shown (which messages of a conversation), never the content.
"""

from __future__ import annotations

from rest_framework import serializers

from audit.models import AuditEvent


class AccessLogEntryOutput(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="Username of who accessed; null for a system job.")
    actor_role = serializers.SerializerMethodField()

    class Meta:
        model = AuditEvent
        fields = [
            "sequence",
            "created_at",
            "actor",
            "actor_role",
            "action",
            "object_type",
            "object_id",
            "detail",
            "outcome",
        ]
        read_only_fields = fields

    def get_actor(self, event: AuditEvent) -> str | None:
        if event.actor_id is None:
            return None
        user = self.context["users"].get(event.actor_id)
        return user.get_username() if user else f"#{event.actor_id}"

    def get_actor_role(self, event: AuditEvent) -> str:
        user = self.context["users"].get(event.actor_id)
        return str(getattr(user, "role", ""))
