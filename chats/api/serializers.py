"""Explicit input and output serializers of the chat API (no ModelSerializer: ObjectId keys)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

import medibot
from chats import branches
from chats.models import ChatMessage, ChatSession, SessionType


class StrictInput(serializers.Serializer):
    """Refuses fields it does not declare (mass assignment: owner, counts, timestamps...)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if isinstance(self.initial_data, dict):
            unknown = sorted(set(self.initial_data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["This field cannot be set."] for name in unknown})
        return attrs


class PublicIdField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=64, min_length=1, **kwargs)


class SendMessageInput(StrictInput):
    message = serializers.CharField(trim_whitespace=False, allow_blank=False)
    conversation_id = PublicIdField(required=False)
    session_id = PublicIdField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        conversation, session = attrs.pop("conversation_id", None), attrs.pop("session_id", None)
        if conversation and session and conversation != session:
            raise serializers.ValidationError(
                "conversation_id and session_id name the same thing; they differ."
            )
        attrs["session_id"] = conversation or session
        return attrs


class SessionOutput(serializers.Serializer):
    session_id = serializers.CharField()
    conversation_id = serializers.CharField(source="session_id")
    title = serializers.CharField()
    session_type = serializers.CharField()
    channel = serializers.CharField()
    is_active = serializers.BooleanField()
    is_archived = serializers.BooleanField()
    is_pinned = serializers.BooleanField()
    tags = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField()
    message_count = serializers.IntegerField(help_text="stored messages, every branch counted")
    active_branch = serializers.IntegerField(help_text="the branch whose tip ends the shown conversation")
    last_message_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    deleted_at = serializers.DateTimeField(allow_null=True)


class MessageOutput(serializers.Serializer):
    message_id = serializers.CharField()
    session_id = serializers.SerializerMethodField()
    role = serializers.CharField()
    content = serializers.CharField()
    order = serializers.SerializerMethodField(help_text="1, 2, 3… in the session; null while queued")
    status = serializers.CharField()
    model = serializers.CharField()
    source_documents = serializers.ListField(child=serializers.DictField())
    agent_steps = serializers.ListField(child=serializers.JSONField())
    attachments = serializers.ListField(child=serializers.JSONField())
    error_info = serializers.DictField()
    metadata = serializers.DictField()
    parent_message_id = serializers.CharField()
    content_hash = serializers.CharField()
    created_at = serializers.DateTimeField()
    my_vote = serializers.SerializerMethodField(
        help_text="the caller's vote (up/down) on this message, or null"
    )
    branch = serializers.IntegerField(help_text="the branch holding the message (0: the original line)")
    sibling_index = serializers.SerializerMethodField(help_text="1-based place among its siblings")
    sibling_count = serializers.SerializerMethodField(help_text="versions at this point (1: no fork)")

    def _sibling_place(self, message: ChatMessage) -> tuple[int, int]:
        """From the session's branch table (given in context): no query per message."""
        session: ChatSession | None = self.context.get("session")
        if session is None:
            return 1, 1
        table = self.context.setdefault("branch_table", branches.of_session(session))
        if message.branch not in table:
            return 1, 1
        return branches.sibling_place(table, message.branch, message.order)

    @extend_schema_field(OpenApiTypes.INT)
    def get_sibling_index(self, message: ChatMessage) -> int:
        return self._sibling_place(message)[0]

    @extend_schema_field(OpenApiTypes.INT)
    def get_sibling_count(self, message: ChatMessage) -> int:
        return self._sibling_place(message)[1]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_my_vote(self, message: ChatMessage) -> str | None:
        votes: dict[Any, str] = self.context.get("votes", {})
        return votes.get(message.pk)

    @extend_schema_field(OpenApiTypes.INT)
    def get_order(self, message: ChatMessage) -> int | None:
        return message.order or None

    def get_session_id(self, message: ChatMessage) -> str:
        """The public id of the message's session (given in context: no query per message)."""
        session: ChatSession = self.context["session"]
        return session.session_id


class UsageOutput(serializers.Serializer):
    model = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=8)


class ReplyOutput(serializers.Serializer):
    session_id = serializers.CharField()
    conversation_id = serializers.CharField()
    response = serializers.CharField()
    user_message = MessageOutput()
    assistant_message = MessageOutput()
    token_usage = UsageOutput(allow_null=True)
    queued = serializers.BooleanField()
    detail = serializers.CharField(required=False)


class SessionCreateInput(StrictInput):
    session_id = PublicIdField(required=False)
    title = serializers.CharField(required=False, allow_blank=True, max_length=80)
    metadata = serializers.DictField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=20)
    session_type = serializers.ChoiceField(choices=SessionType.choices, required=False)


class SessionUpdateInput(StrictInput):
    title = serializers.CharField(required=False, max_length=80)
    metadata = serializers.DictField(required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False, max_length=20)
    is_active = serializers.BooleanField(required=False)
    is_archived = serializers.BooleanField(required=False)
    is_pinned = serializers.BooleanField(required=False)


class SessionListInput(serializers.Serializer):
    archived = serializers.BooleanField(required=False, allow_null=True, default=False)
    pinned = serializers.BooleanField(required=False, allow_null=True, default=None)
    tag = serializers.CharField(required=False, max_length=50)
    type = serializers.ChoiceField(choices=SessionType.choices, required=False)
    updated_since = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(required=False, max_length=500)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class SessionPageOutput(serializers.Serializer):
    results = SessionOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    degraded = serializers.BooleanField(
        required=False, help_text="true: MongoDB is unreachable; recent messages from the cache"
    )
    as_of = serializers.DateTimeField(required=False, help_text="with degraded: the newest activity seen")


class MessagePageInput(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1)
    after = serializers.IntegerField(required=False, min_value=0)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=50)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "before" in attrs and "after" in attrs:
            raise serializers.ValidationError("Give either before or after, not both.")
        return attrs


class MessagePageOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    has_older = serializers.BooleanField()
    has_newer = serializers.BooleanField()
    older_cursor = serializers.IntegerField(allow_null=True)
    newer_cursor = serializers.IntegerField(allow_null=True)
    degraded = serializers.BooleanField(
        required=False, help_text="true: MongoDB is unreachable; recent messages from the cache"
    )
    as_of = serializers.DateTimeField(required=False, help_text="with degraded: the newest activity seen")


class FullSessionOutput(serializers.Serializer):
    session = SessionOutput()
    messages = MessageOutput(many=True)
    has_older = serializers.BooleanField()
    older_cursor = serializers.IntegerField(allow_null=True)
    degraded = serializers.BooleanField(
        required=False, help_text="true: MongoDB is unreachable; recent messages from the cache"
    )
    as_of = serializers.DateTimeField(required=False, help_text="with degraded: the newest activity seen")


class ChatHistoryInput(serializers.Serializer):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class ChatHistoryItemOutput(serializers.Serializer):
    conversation_id = serializers.CharField()
    message = serializers.CharField()
    response = serializers.CharField(allow_null=True)
    timestamp = serializers.DateTimeField()


class DeletedOutput(serializers.Serializer):
    sessions = serializers.IntegerField()
    messages = serializers.IntegerField()
    votes = serializers.IntegerField()
    token_usage = serializers.IntegerField()
    erasure_id = serializers.IntegerField(help_text="the recorded erasure request")
    completed = serializers.BooleanField(
        help_text="false (HTTP 202) when the chat store is unreachable: it completes automatically"
    )
    kept = serializers.ListField(
        child=serializers.CharField(), help_text="sessions under legal hold: hidden from you, not destroyed"
    )
    detail = serializers.CharField(help_text="what happened, in words")
    status_url = serializers.URLField(help_text="GET it to follow this erasure (its owner only)")


KEPT_ON_LEGAL_HOLD = "under a legal hold: hidden from you, not destroyed, erased once the hold is lifted"


class ErasureOutput(serializers.Serializer):
    """A recorded erasure as its owner sees it: scope, when asked, when done, what a legal hold kept."""

    erasure_id = serializers.IntegerField(source="pk")
    scope = serializers.ChoiceField(
        choices=["all", "session"], help_text="all: clear-all; session: one session's permanent delete"
    )
    session_id = serializers.CharField(help_text="the erased session; empty for clear-all")
    requested_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(
        allow_null=True, help_text="null while the chat store is unreachable: it completes automatically"
    )
    completed = serializers.BooleanField()
    kept = serializers.ListField(
        child=serializers.CharField(),
        source="kept_session_ids",
        help_text="sessions the erasure did not destroy",
    )
    kept_reason = serializers.SerializerMethodField(
        help_text="why the kept sessions were kept; empty if none"
    )

    @extend_schema_field(OpenApiTypes.STR)
    def get_kept_reason(self, erasure: Any) -> str:
        return KEPT_ON_LEGAL_HOLD if erasure.kept_session_ids else ""


class SessionStatisticsOutput(serializers.Serializer):
    total_messages = serializers.IntegerField()
    message_counts_by_role = serializers.DictField(child=serializers.IntegerField())
    total_tokens = serializers.IntegerField()
    total_cost = serializers.DecimalField(max_digits=18, decimal_places=8)
    votes = serializers.DictField(child=serializers.IntegerField())
    first_message_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)


class DailyStatsOutput(serializers.Serializer):
    date = serializers.DateField()
    total_sessions = serializers.IntegerField()
    new_sessions = serializers.IntegerField()
    total_messages = serializers.IntegerField()
    active_users = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    total_cost = serializers.DecimalField(max_digits=18, decimal_places=8)
    tokens_by_model = serializers.DictField(child=serializers.IntegerField())
    messages_by_role = serializers.DictField(child=serializers.IntegerField())
    average_session_length = serializers.FloatField()


class GlobalStatisticsOutput(serializers.Serializer):
    total_sessions = serializers.IntegerField()
    total_messages = serializers.IntegerField()
    total_users = serializers.IntegerField()
    messages_by_role = serializers.DictField(child=serializers.IntegerField())
    tokens_by_model = serializers.DictField(child=serializers.IntegerField())
    daily = DailyStatsOutput(many=True)


class SearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=500)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)
    cursor = serializers.CharField(required=False, max_length=4000)
    sort = serializers.ChoiceField(choices=["newest", "relevance"], required=False, default="newest")


class SearchMessageOutput(serializers.Serializer):
    session_id = serializers.CharField(source="session.session_id")
    session_title = serializers.CharField(source="session.title")
    message_id = serializers.CharField(source="message.message_id")
    role = serializers.CharField(source="message.role")
    order = serializers.IntegerField(source="message.order")
    snippet = serializers.CharField()
    created_at = serializers.DateTimeField(source="message.created_at")
    score = serializers.FloatField()


class SearchSessionOutput(serializers.Serializer):
    session_id = serializers.CharField()
    title = serializers.CharField()
    updated_at = serializers.DateTimeField()


class SearchDataOutput(serializers.Serializer):
    sessions = SearchSessionOutput(many=True)
    messages = SearchMessageOutput(many=True)
    has_more = serializers.BooleanField()
    next_cursor = serializers.CharField(allow_null=True)


class SearchOutput(serializers.Serializer):
    data = SearchDataOutput()  # type: ignore[assignment]  # the wire name of reference 001


class VoteInput(StrictInput):
    vote_type = serializers.ChoiceField(choices=["up", "down"])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class VoteOutput(serializers.Serializer):
    message_id = serializers.SerializerMethodField()
    vote_type = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_message_id(self, vote: Any) -> str:
        return str(self.context["message"].message_id)


class TokenUsageInput(serializers.Serializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class ModelUsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=18, decimal_places=8)
    messages = serializers.IntegerField()


class TokenUsageOutput(serializers.Serializer):
    by_model = serializers.DictField(child=ModelUsageOutput())
    total_tokens = serializers.IntegerField()
    total_cost = serializers.DecimalField(max_digits=18, decimal_places=8)


class CleanupInput(serializers.Serializer):
    days_old = serializers.IntegerField(required=False, min_value=0, max_value=36500)
    dry_run = serializers.BooleanField(required=False, default=False)


class CleanupOutput(serializers.Serializer):
    purged_sessions = serializers.IntegerField()
    purged_messages = serializers.IntegerField()
    retained_sessions = serializers.IntegerField()
    retention_action = serializers.CharField()
    dry_run = serializers.BooleanField()


class HealthOutput(serializers.Serializer):
    status = serializers.CharField(help_text="ok, or degraded when anything is down or degraded")
    relational = serializers.CharField(help_text="the users/EHR database: ok or down")
    relational_engine = serializers.CharField(help_text="mysql, sqlite, ...")
    mongodb = serializers.CharField()
    redis = serializers.CharField()
    celery = serializers.CharField()
    outbox_depth = serializers.IntegerField(allow_null=True, help_text="chat writes waiting for MongoDB")
    outbox_failed = serializers.IntegerField(allow_null=True, help_text="entries that need an operator")
    down = serializers.ListField(child=serializers.CharField(), help_text="unreachable stores (HTTP 503)")
    degraded = serializers.ListField(
        child=serializers.CharField(),
        help_text="mongodb (writes stuck), outbox (growing), celery (no worker)",
    )
    version = serializers.CharField(default=medibot.__version__, help_text="the running Medibot release")


class StaffUserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    role = serializers.CharField()
    phone_number = serializers.CharField(allow_null=True)
    date_joined = serializers.DateTimeField()
    session_count = serializers.IntegerField()
    message_count = serializers.IntegerField()


class StaffUserPageOutput(serializers.Serializer):
    results = StaffUserOutput(many=True)
    next_cursor = serializers.IntegerField(allow_null=True)


class StaffUsersInput(serializers.Serializer):
    cursor = serializers.IntegerField(required=False, min_value=0)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100, default=20)


class LatestChatOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)
    message_id = serializers.CharField()
    role = serializers.CharField()
    content = serializers.CharField()
    created_at = serializers.DateTimeField()


class ReviseInput(StrictInput):
    """Edit and resend: the new text of the caller's message."""

    message = serializers.CharField(trim_whitespace=False, allow_blank=False)


class BranchMessagesOutput(serializers.Serializer):
    results = MessageOutput(many=True)
    active_index = serializers.IntegerField(
        allow_null=True, help_text="1-based place of the one on the active path, null when none is"
    )


class SwitchBranchOutput(serializers.Serializer):
    session = SessionOutput()
    active_branch = serializers.IntegerField()
