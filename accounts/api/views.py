"""Account endpoints: one API class per operation, each a thin shell over ``accounts.services``."""

from __future__ import annotations

from typing import NoReturn, cast

from django.contrib.auth import logout
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts import languages, services
from accounts.api.serializers import DetailSerializer, UserSerializer
from accounts.models import ApiToken, User
from accounts.throttling import LoginFailureThrottle, LoginThrottled

FIELD_ERRORS = OpenApiResponse(
    description="Invalid input: an object mapping each field (or `non_field_errors`) to its messages."
)
NOT_AUTHENTICATED = OpenApiResponse(
    response=DetailSerializer,
    description="No or invalid credentials (`WWW-Authenticate: Token`).",
)


class RegisterApi(APIView):
    """Create a patient account and return its API token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="RegisterInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150, validators=[User.username_validator])
        email = serializers.EmailField(max_length=254)
        password = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    @extend_schema_serializer(component_name="RegisterOutput")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField(read_only=True)
        username = serializers.CharField(read_only=True)
        token = serializers.CharField(read_only=True)

    @extend_schema(
        operation_id="auth_register",
        tags=["auth"],
        request=InputSerializer,
        responses={201: OutputSerializer, 400: FIELD_ERRORS},
        description=(
            "Any role, is_staff or is_superuser in the body is ignored: new accounts are patients. "
            "The account's search language is the supported one `Accept-Language` prefers, else `auto`."
        ),
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        search_language = languages.from_accept_language(request.headers.get("Accept-Language", ""))
        try:
            user, token = services.register_user(**serializer.validated_data, search_language=search_language)
        except services.RegistrationRejected as exc:
            raise serializers.ValidationError(exc.errors) from exc
        output = self.OutputSerializer({"id": user.pk, "username": user.username, "token": token.key})
        return Response(output.data, status=status.HTTP_201_CREATED)


class ObtainTokenApi(APIView):
    """Exchange a username and password for the account's API token."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginFailureThrottle]
    login_failure_throttle: LoginFailureThrottle

    @extend_schema_serializer(component_name="TokenInput")
    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(
            write_only=True, trim_whitespace=False, style={"input_type": "password"}
        )

    @extend_schema_serializer(component_name="TokenOutput")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField(read_only=True)

    def get_throttles(self) -> list[BaseThrottle]:
        """Kept on the view so a successful login can give its reserved slot back."""
        self.login_failure_throttle = LoginFailureThrottle()
        return [self.login_failure_throttle]

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise LoginThrottled(wait)

    @extend_schema(
        operation_id="auth_token",
        tags=["auth"],
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            400: FIELD_ERRORS,
            429: OpenApiResponse(
                response=DetailSerializer,
                description="Too many failed logins for this username from this address (`Retry-After`).",
            ),
        },
        description="Failed attempts are limited per client address and username; successes are free.",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            token = services.obtain_token(**serializer.validated_data)
        except services.InvalidCredentials as exc:
            raise serializers.ValidationError({api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]}) from exc
        self.login_failure_throttle.forgive()
        return Response(self.OutputSerializer({"token": token.key}).data)


class LogoutApi(APIView):
    """Revoke the token the request was made with and end the Django session, if any."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="auth_logout",
        tags=["auth"],
        request=None,
        responses={204: None, 401: NOT_AUTHENTICATED},
    )
    def post(self, request: Request) -> Response:
        if isinstance(request.auth, ApiToken):
            services.revoke_token(token=request.auth)
        logout(request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    """The caller's own account; PATCH changes its settings (the search language)."""

    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="MeInput")
    class InputSerializer(serializers.Serializer):
        search_language = serializers.ChoiceField(
            choices=languages.SEARCH_LANGUAGE_CHOICES,
            required=False,
            error_messages={
                "invalid_choice": languages.unsupported_message("{input}"),
                "null": languages.unsupported_message("null"),
            },
            help_text="The language your chats are searched in; `auto` detects it per message.",
        )

    @extend_schema(
        operation_id="auth_me",
        tags=["auth"],
        responses={200: UserSerializer, 401: NOT_AUTHENTICATED},
    )
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # IsAuthenticated: never anonymous here
        return Response(UserSerializer(user).data)

    @extend_schema(
        operation_id="auth_me_update",
        tags=["auth"],
        request=InputSerializer,
        responses={200: UserSerializer, 400: FIELD_ERRORS, 401: NOT_AUTHENTICATED},
        description="Fields left out stay as they are; any other field in the body is ignored.",
    )
    def patch(self, request: Request) -> Response:
        user = cast(User, request.user)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if "search_language" in serializer.validated_data:
            user = services.set_search_language(
                user=user, language=serializer.validated_data["search_language"]
            )
        return Response(UserSerializer(user).data)
