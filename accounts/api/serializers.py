"""Serializers shared by several account endpoints; per-operation ones are nested in the views."""

from __future__ import annotations

from rest_framework import serializers

from accounts.models import User


class UserSerializer(serializers.ModelSerializer[User]):
    """How an account is shown to its owner (``GET /api/auth/me``)."""

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "role",
            "phone_number",
            "is_staff",
            "date_joined",
            "search_language",
        ]
        read_only_fields = fields


class DetailSerializer(serializers.Serializer):
    """DRF's error body for authentication, permission and throttling failures."""

    detail = serializers.CharField(read_only=True)
