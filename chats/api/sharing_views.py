"""Sharing a conversation with the care team (issue 17): the patient shares and unshares; the
clinicians assigned to them list and read what is shared, read-only, every read audited.

Someone else's conversation, an unshared or deleted one, or a clinician not assigned to the
patient is a 404 (``SessionNotFound``); the access rules live in ``chats.care_access``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from chats import care_access, selectors
from chats.api.serializers import MessagePageInput
from chats.services import sharing
from ehr import selectors as ehr_selectors

SESSION_ID = OpenApiParameter("session_id", str, OpenApiParameter.PATH, description="public session id")
MAX_SHARED_PAGE = 50


def _input(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def _user(request: Request) -> User:
    return request.user  # type: ignore[return-value]


class CareTeamMemberOutput(serializers.Serializer):
    username = serializers.CharField(read_only=True)
    name = serializers.CharField(read_only=True, source="get_full_name")


class ShareStatusOutput(serializers.Serializer):
    shared = serializers.BooleanField(read_only=True)
    shared_at = serializers.DateTimeField(read_only=True, allow_null=True)
    care_team = CareTeamMemberOutput(many=True, read_only=True, help_text="the clinicians a share reaches")


class SharedConversationOutput(serializers.Serializer):
    session_id = serializers.CharField(read_only=True, source="session.session_id")
    title = serializers.CharField(read_only=True, source="session.title")
    channel = serializers.CharField(read_only=True, source="session.channel")
    message_count = serializers.IntegerField(read_only=True, source="session.message_count")
    last_message_at = serializers.DateTimeField(
        read_only=True, allow_null=True, source="session.last_message_at"
    )
    created_at = serializers.DateTimeField(read_only=True, source="session.created_at")
    shared_at = serializers.DateTimeField(read_only=True, source="share.shared_at")
    patient = CareTeamMemberOutput(read_only=True, source="share.patient.user")


class SharedMessageOutput(serializers.Serializer):
    """What a clinician sees of a message: the text and its sources, not votes or internals."""

    message_id = serializers.CharField(read_only=True)
    role = serializers.CharField(read_only=True)
    content = serializers.CharField(read_only=True)
    order = serializers.IntegerField(read_only=True)
    status = serializers.CharField(read_only=True)
    source_documents = serializers.ListField(child=serializers.DictField(), read_only=True)
    attachments = serializers.ListField(child=serializers.JSONField(), read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class SharedPageOutput(serializers.Serializer):
    results = SharedConversationOutput(many=True, read_only=True)
    next_cursor = serializers.IntegerField(read_only=True, allow_null=True)


class SharedMessagePageOutput(serializers.Serializer):
    results = SharedMessageOutput(many=True, read_only=True)
    has_older = serializers.BooleanField(read_only=True)
    has_newer = serializers.BooleanField(read_only=True)
    older_cursor = serializers.IntegerField(read_only=True, allow_null=True)
    newer_cursor = serializers.IntegerField(read_only=True, allow_null=True)


def _status(user: User, session_id: str) -> dict[str, Any]:
    share = ehr_selectors.conversation_share(patient_user_id=int(user.pk), session_id=session_id)
    return {
        "shared": share is not None,
        "shared_at": share.shared_at if share else None,
        "care_team": ehr_selectors.care_team(patient_user_id=int(user.pk)),
    }


class ShareApi(APIView):
    """GET whether this conversation is shared and with whom; POST shares it with the care team
    (idempotent); DELETE stops sharing at once. The patient's own conversations only."""

    @extend_schema(parameters=[SESSION_ID], responses=ShareStatusOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = selectors.get_session(user_id=int(_user(request).pk), session_id=session_id)
        return Response(ShareStatusOutput(_status(_user(request), session.session_id)).data)

    @extend_schema(
        parameters=[SESSION_ID],
        request=None,
        responses={
            201: ShareStatusOutput,
            404: OpenApiResponse(description="no such conversation"),
            409: OpenApiResponse(description="no clinician is assigned to you"),
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        share = sharing.share_session(user=_user(request), session_id=session_id, request=request)
        body = ShareStatusOutput(_status(_user(request), share.session_id)).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[SESSION_ID], responses={204: None, 404: OpenApiResponse()})
    def delete(self, request: Request, session_id: str) -> Response:
        sharing.unshare_session(user=_user(request), session_id=session_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SharedListApi(APIView):
    """GET the conversations shared with me (a clinician), newest share first; empty for others."""

    class SharedPageInput(serializers.Serializer):
        cursor = serializers.IntegerField(required=False, min_value=1)
        limit = serializers.IntegerField(required=False, min_value=1, max_value=MAX_SHARED_PAGE, default=20)

    @extend_schema(parameters=[SharedPageInput], responses=SharedPageOutput)
    def get(self, request: Request) -> Response:
        query = _input(self.SharedPageInput, request.query_params)
        page = care_access.shared_with_me(
            clinician=request.user, cursor=query.get("cursor"), size=query["limit"], request=request
        )
        return Response(SharedPageOutput({"results": page.items, "next_cursor": page.next_cursor}).data)


class SharedConversationApi(APIView):
    """GET one conversation shared with me (a clinician assigned to its patient)."""

    @extend_schema(parameters=[SESSION_ID], responses={200: SharedConversationOutput, 404: OpenApiResponse()})
    def get(self, request: Request, session_id: str) -> Response:
        shared = care_access.shared_conversation(
            clinician=request.user, session_id=session_id, request=request
        )
        return Response(SharedConversationOutput(shared).data)


class SharedMessagesApi(APIView):
    """GET a page of a shared conversation's messages: the newest ``limit``, or before/after an order."""

    @extend_schema(
        parameters=[SESSION_ID, MessagePageInput],
        responses={200: SharedMessagePageOutput, 404: OpenApiResponse()},
    )
    def get(self, request: Request, session_id: str) -> Response:
        query = _input(MessagePageInput, request.query_params)
        _, page = care_access.shared_messages(
            clinician=request.user,
            session_id=session_id,
            limit=query["limit"],
            before=query.get("before"),
            after=query.get("after"),
            request=request,
        )
        return Response(
            SharedMessagePageOutput(
                {
                    "results": page.items,
                    "has_older": page.has_older,
                    "has_newer": page.has_newer,
                    "older_cursor": page.older_cursor,
                    "newer_cursor": page.newer_cursor,
                }
            ).data
        )
