"""Chat documents on MongoDB (the ``chats`` alias).

Every collection carries ``user_id`` (the MySQL user's id, no cross-database foreign key) as the
first field of its indexes: one user's data is found by an index range and is the shard key
when the cluster is sharded. Unique indexes therefore start with ``user_id`` too; a session
belongs to exactly one user, so ``(user_id, session, branch, order)`` is as strict as
``(session, branch, order)``.

The unique indexes are created by migration 0002 through pymongo, not ``Meta.constraints``:
django-mongodb-backend makes unique constraints *partial* indexes (``$type`` filters), which a
plain equality query such as ``{"user_id": 7}`` cannot use. Our key fields are never null, so
full unique indexes are both correct and usable by every query (see ``UNIQUE_INDEXES``).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models
from django.utils import timezone
from django_mongodb_backend.fields import ArrayField
from django_mongodb_backend.managers import MongoManager

SCHEMA_VERSION = 1


def new_public_id() -> str:
    return str(uuid.uuid4())


class SessionType(models.TextChoices):
    GENERAL = "general", "General"
    SYMPTOM_CHECK = "symptom_check", "Symptom check"
    MEDICATION = "medication", "Medication"
    LAB_RESULTS = "lab_results", "Lab results"
    MENTAL_HEALTH = "mental_health", "Mental health"
    APPOINTMENT = "appointment", "Appointment"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    WHATSAPP = "whatsapp", "WhatsApp"
    IMPORT = "import", "Import"


class Role(models.TextChoices):
    USER = "user", "User"
    ASSISTANT = "assistant", "Assistant"
    SYSTEM = "system", "System"
    TOOL = "tool", "Tool"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"  # the patient stopped the streamed reply (or left): the text so far


class VoteType(models.TextChoices):
    UP = "up", "Up"
    DOWN = "down", "Down"


UNIQUE_INDEXES: dict[str, list[tuple[str, list[str]]]] = {
    "chat_sessions": [("uniq_session_per_user", ["user_id", "session_id"])],
    "chat_messages": [
        ("uniq_message_branch_order", ["user_id", "session_id", "branch", "order"]),
        ("uniq_message_id", ["user_id", "message_id"]),
    ],
    "chat_token_usage": [("uniq_usage_per_message", ["user_id", "message_id"])],
    "chat_message_votes": [("uniq_vote_per_user_message", ["user_id", "message_id"])],
    "chat_search_terms": [("uniq_search_term", ["user_id", "key"])],
}


class ChatSession(models.Model):
    """One conversation. Counters are kept by the operation that writes its messages."""

    session_id = models.CharField(max_length=64, default=new_public_id)
    user_id = models.BigIntegerField()
    title = models.CharField(max_length=80, blank=True, default="")
    session_type = models.CharField(max_length=32, choices=SessionType.choices, default=SessionType.GENERAL)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    is_active = models.BooleanField(default=True)
    is_archived = models.BooleanField(default=False)
    is_pinned = models.BooleanField(default=False)
    tags = ArrayField(models.CharField(max_length=50), default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    search_terms = ArrayField(models.CharField(max_length=64), default=list, blank=True, editable=False)
    # Every stored message of the session, on every branch (erasure, retention, statistics and the
    # importers' checks count documents); the active path's length is ``chats.branches.path_length``.
    message_count = models.PositiveIntegerField(default=0)
    # The branch whose tip is the conversation's leaf (0: the original line), and the forks: one
    # entry per branch >= 1, ``{"id", "parent", "first", "fork_message_id", "tip"}`` (see
    # ``chats.branches``); branch 0 is not stored, its length is what the forks leave of message_count.
    active_branch = models.PositiveIntegerField(default=0)
    branches = models.JSONField(default=list, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    legal_hold = models.BooleanField(default=False)
    schema_version = models.PositiveSmallIntegerField(default=SCHEMA_VERSION)

    objects = MongoManager()

    class Meta:
        db_table = "chat_sessions"
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(
                fields=["user_id", "deleted_at", "is_archived", "-updated_at"], name="session_list_idx"
            ),
            models.Index(fields=["user_id", "is_pinned"], name="session_pinned_idx"),
            models.Index(fields=["user_id", "search_terms"], name="session_search_idx"),
            models.Index(fields=["deleted_at"], name="session_deleted_idx"),
            models.Index(fields=["updated_at"], name="session_updated_idx"),
            # Sessions of a user by ObjectId (search resolves its hits' sessions this way); without
            # it SecantusDB scans every session of every user for {user_id, _id: {$in: [...]}}.
            models.Index(fields=["user_id", "id"], name="session_owner_pk_idx"),
            # Daily statistics (a background job) count one UTC day of new sessions.
            models.Index(fields=["created_at"], name="session_created_idx"),
        ]

    def __str__(self) -> str:
        return self.title or self.session_id


class ChatMessage(models.Model):
    """One message; ``order`` is its position in its thread (1, 2, 3…), unique and gap-free within
    its ``branch`` and along every path from the first message to a leaf (``chats.branches``)."""

    message_id = models.CharField(max_length=64, default=new_public_id)
    session = models.ForeignKey(
        ChatSession, on_delete=models.DO_NOTHING, related_name="messages", db_index=False
    )
    session_id: Any
    user_id = models.BigIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    order = models.PositiveIntegerField()
    branch = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.COMPLETED)
    model = models.CharField(max_length=100, blank=True, default="")
    source_documents = models.JSONField(default=list, blank=True)
    agent_steps = models.JSONField(default=list, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    error_info = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    parent_message_id = models.CharField(max_length=64, blank=True, default="")
    # The owner's vote ("up"/"down", "" for none), kept with the MessageVote in one transaction so
    # a page of messages shows it without a second read.
    vote = models.CharField(max_length=8, blank=True, default="")
    content_hash = models.CharField(max_length=64)
    search_terms = ArrayField(models.CharField(max_length=64), default=list, blank=True, editable=False)
    # ``<term key>~<bucket>`` (chats.search_index): the newest matches of a term are its top buckets.
    search_postings = ArrayField(models.CharField(max_length=80), default=list, blank=True, editable=False)
    # True while the message's terms are not in its owner's vocabulary counts yet (the live append
    # path defers that write; chats.search_index.count_deferred clears it). Indexed by the partial
    # ``message_uncounted_idx`` (migration 0010): only marked messages have an entry.
    search_uncounted = models.BooleanField(null=True, default=None, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MongoManager()

    class Meta:
        db_table = "chat_messages"
        ordering = ["session_id", "branch", "order"]
        indexes = [
            models.Index(fields=["user_id", "created_at"], name="message_user_time_idx"),
            models.Index(fields=["user_id", "search_postings"], name="message_postings_idx"),
            # Daily statistics read one UTC day across users: without this, a collection scan
            # (5.8 s vs 0.14 s for one day of 100,000 messages on SecantusDB).
            models.Index(fields=["created_at"], name="message_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.order}"


class SearchTerm(models.Model):
    """One term of one user's vocabulary with the exact keys (prefixes, SymSpell deletions) through
    which a query word that is a prefix or a misspelling of it finds it; every key comes from
    ``chats.search.search_key``. The user's document with the empty key holds ``counts``: how many
    of their messages hold each term (one document written per append, not one per term), and
    ``pending``: new terms' documents not written yet, inserted in batches (``chats.search_index``)."""

    user_id = models.BigIntegerField()
    key = models.CharField(max_length=80, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    pending = models.JSONField(default=list, blank=True)
    prefix_keys = ArrayField(models.CharField(max_length=80), default=list, blank=True)
    typo_keys = ArrayField(models.CharField(max_length=80), default=list, blank=True)

    objects = MongoManager()

    class Meta:
        db_table = "chat_search_terms"
        ordering = ["user_id", "key"]
        indexes = [
            models.Index(fields=["user_id", "prefix_keys"], name="search_term_prefix_idx"),
            models.Index(fields=["user_id", "typo_keys"], name="search_term_typo_idx"),
        ]

    def __str__(self) -> str:
        return self.key or f"counts of user {self.user_id}"


class TokenUsage(models.Model):
    """Tokens and exact cost of one assistant message."""

    session = models.ForeignKey(
        ChatSession, on_delete=models.DO_NOTHING, related_name="token_usage", db_index=False
    )
    session_id: Any
    message = models.ForeignKey(
        ChatMessage, on_delete=models.DO_NOTHING, related_name="token_usage", db_index=False
    )
    message_id: Any
    user_id = models.BigIntegerField()
    model = models.CharField(max_length=100)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = MongoManager()

    class Meta:
        db_table = "chat_token_usage"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user_id", "created_at"], name="usage_user_time_idx"),
            models.Index(fields=["user_id", "session"], name="usage_session_idx"),
            models.Index(fields=["model", "created_at"], name="usage_model_time_idx"),
            models.Index(fields=["created_at"], name="usage_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.model}: {self.total_tokens}"


class MessageVote(models.Model):
    """A user's thumbs up/down on a message: at most one per user per message."""

    message = models.ForeignKey(
        ChatMessage, on_delete=models.DO_NOTHING, related_name="votes", db_index=False
    )
    message_id: Any
    session = models.ForeignKey(
        ChatSession, on_delete=models.DO_NOTHING, related_name="votes", db_index=False
    )
    session_id: Any
    user_id = models.BigIntegerField()
    vote_type = models.CharField(max_length=8, choices=VoteType.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    objects = MongoManager()

    class Meta:
        db_table = "chat_message_votes"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user_id", "session"], name="vote_session_idx")]

    def __str__(self) -> str:
        return self.vote_type


class DailyChatStats(models.Model):
    """Totals of one UTC day; recomputing a day replaces its row."""

    date = models.DateField(unique=True)
    total_sessions = models.PositiveIntegerField(default=0)
    new_sessions = models.PositiveIntegerField(default=0)
    total_messages = models.PositiveIntegerField(default=0)
    active_users = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    total_cost = models.DecimalField(max_digits=16, decimal_places=8, default=0)
    tokens_by_model = models.JSONField(default=dict, blank=True)
    cost_by_model = models.JSONField(default=dict, blank=True)
    messages_by_role = models.JSONField(default=dict, blank=True)
    average_session_length = models.FloatField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    objects = MongoManager()

    class Meta:
        db_table = "chat_daily_stats"
        ordering = ["-date"]
        verbose_name_plural = "daily chat stats"

    def __str__(self) -> str:
        return str(self.date)


class MigrationRun(models.Model):
    """A ``manage.py migrate_chats`` run, as ``chats.importers.runs`` writes it (read-only here:
    the importer writes the ``migration_runs`` collection with pymongo; the admin browses it)."""

    id = models.CharField(primary_key=True, max_length=120, db_column="_id")
    source = models.CharField(max_length=32)
    source_ref = models.CharField(max_length=500)
    state = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    checkpoint = models.JSONField(null=True, blank=True)
    batches = models.IntegerField(default=0)
    resumed = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")

    objects = MongoManager()

    class Meta:
        managed = False  # collection and indexes: migration 0003
        db_table = "migration_runs"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.id


class QuarantinedRow(models.Model):
    """A legacy row ``migrate_chats`` could not import, with its key and reason (read-only here)."""

    id = models.CharField(primary_key=True, max_length=700, db_column="_id")
    source_ref = models.CharField(max_length=500)
    key = models.CharField(max_length=200)
    unit = models.CharField(max_length=200)
    reason = models.CharField(max_length=64)
    row = models.JSONField(default=dict, blank=True)
    run_id = models.CharField(max_length=120)
    first_run_id = models.CharField(max_length=120)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    objects = MongoManager()

    class Meta:
        managed = False  # collection and indexes: migration 0003
        db_table = "migration_quarantine"
        ordering = ["-last_seen_at"]
        verbose_name = "quarantined legacy row"

    def __str__(self) -> str:
        return f"{self.unit}: {self.reason}"
