"""Deleting one's own account (``POST /api/auth/account/delete``): a thin shell over ``accounts.deletion``."""

from __future__ import annotations

from typing import cast

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import deletion
from accounts.api.serializers import DetailSerializer
from accounts.models import User
from accounts.services import InvalidCredentials

DELETED_DETAIL = "Your account and all your data were deleted."
PENDING_DETAIL = "Your account was deleted; the rest of your data is erased as soon as storage is back."


class DeleteAccountApi(APIView):
    """Delete the caller's account and erase their data; what a legal hold keeps is said in ``detail``."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="DeleteAccountInput")
    class InputSerializer(serializers.Serializer):
        password = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    @extend_schema_serializer(component_name="DeleteAccountOutput")
    class OutputSerializer(serializers.Serializer):
        deleted = serializers.BooleanField(read_only=True)
        completed = serializers.BooleanField(read_only=True)
        kept = serializers.IntegerField(read_only=True, help_text="Items a legal hold keeps.")
        detail = serializers.CharField(read_only=True)

    @extend_schema(
        operation_id="auth_account_delete",
        tags=["auth"],
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(description="Wrong password: nothing was deleted."),
            401: OpenApiResponse(response=DetailSerializer, description="No or invalid credentials."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = cast(User, request.user)  # IsAuthenticated: never anonymous here
        try:
            result = deletion.delete_own_account(user=user, password=serializer.validated_data["password"])
        except InvalidCredentials as exc:
            raise serializers.ValidationError({"password": ["Wrong password."]}) from exc
        logout(request._request)
        detail = " ".join(result.details) or (DELETED_DETAIL if result.completed else PENDING_DETAIL)
        body = {"deleted": True, "completed": result.completed, "kept": result.kept, "detail": detail}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_200_OK)
