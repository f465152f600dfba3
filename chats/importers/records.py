"""What every source produces: sessions and messages ready to store, or rows to quarantine.

Ids are derived from (source, legacy key): the same legacy row always becomes the same public
``message_id`` and the same ObjectId, so the unique indexes turn a rerun into a no-op.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bson import ObjectId

from chats.models import Channel, MessageStatus
from chats.services import PUBLIC_ID

ID_NAMESPACE = uuid.UUID("0d6f3c56-5a0e-4c5b-9f55-6d65646962f1")


class Reason(StrEnum):
    """Why a legacy row was quarantined instead of imported."""

    NULL_USER = "null user"
    UNKNOWN_USER = "unknown user"
    INVALID_PHONE = "invalid phone number"
    BAD_TIMESTAMP = "unparseable timestamp"
    INVALID_UTF8 = "invalid UTF-8"
    TOO_LARGE = "message over MongoDB's 16 MB document limit"
    ORPHAN = "orphan message"
    EMPTY = "empty message"
    UNKNOWN_ROLE = "unknown role"
    BAD_JSON = "unparseable JSON"
    ORDER_TAKEN = "another message already has this order in the session"
    SESSION_OWNED = "the session id is taken by another conversation"
    NO_OWNER = "Medibot export, no owner: use --source medibot --user NAME"
    ERASED = "erased: the patient's encryption key was destroyed"


def derived_uuid(source: str, legacy_key: str) -> str:
    """The public id of a legacy object: stable across runs, distinct across sources."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{source}:{legacy_key}"))


def derived_object_id(source: str, legacy_key: str, moment: datetime) -> ObjectId:
    """An ObjectId whose time part is the legacy timestamp and whose rest hashes the legacy key."""
    seconds = min(max(int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp()), 0), 2**32 - 1)
    digest = hashlib.sha256(f"{source}:{legacy_key}".encode()).digest()
    return ObjectId(seconds.to_bytes(4, "big") + digest[:8])


def public_id_or_derived(value: str | None, *, source: str, legacy_key: str) -> str:
    """Keep a legacy id that is a valid public id (URLs keep working), else derive one."""
    if value and PUBLIC_ID.match(value):
        return value
    return derived_uuid(source, legacy_key)


@dataclass(slots=True)
class SessionSpec:
    """The target session of a legacy conversation. ``title=None``: from its first user message."""

    source: str
    legacy_key: str
    user_id: int
    session_id: str
    created_at: datetime
    title: str | None = None
    channel: str = Channel.IMPORT
    updated_at: datetime | None = None
    is_active: bool = True
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Medibot's own exports: the title as stored, not re-derived (collapsed, cut) like a legacy one.
    keep_title: bool = False
    # A conversation with branches: the forks (``ChatSession.branches`` entries) and the branch
    # holding the source's active leaf; ``message_count`` counts the messages of every branch.
    active_branch: int = 0
    branches: list[dict[str, Any]] = field(default_factory=list)
    object_id: ObjectId = field(init=False)

    def __post_init__(self) -> None:
        # The owner is part of it: a conversation re-mapped to another account never shares an _id.
        self.object_id = derived_object_id(
            self.source, f"session:{self.user_id}:{self.legacy_key}", self.created_at
        )

    @property
    def target_key(self) -> tuple[int, str]:
        return (self.user_id, self.session_id)


@dataclass(slots=True)
class MessageRecord:
    """One message to store as number ``order`` of its session; ``unit`` is its legacy row's key."""

    unit: str
    legacy_key: str
    session: SessionSpec
    order: int
    role: str
    content: str
    created_at: datetime
    message_id: str = ""
    branch: int = 0
    # How many messages the session holds once this one is stored, when messages are written
    # branch after branch (0: ``order``, a source without branches).
    count_after: int = 0
    status: str = MessageStatus.COMPLETED
    model: str = ""
    source_documents: list[Any] = field(default_factory=list)
    agent_steps: list[Any] = field(default_factory=list)
    attachments: list[Any] = field(default_factory=list)
    error_info: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_message_id: str = ""
    titles_session: bool = False
    # The owner's vote ({vote_type, reason, created_at, updated_at}) and the reply's token usage
    # ({model, prompt_tokens, completion_tokens, cost, created_at}) as Medibot's exports write them.
    vote: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    search_terms: list[str] | None = None  # filled ahead of the write by ``writer.prepare``

    def __post_init__(self) -> None:
        if not self.message_id:
            self.message_id = derived_uuid(self.session.source, self.legacy_key)


@dataclass(slots=True)
class SessionRecord:
    """A legacy conversation row that must exist in the target even without messages."""

    unit: str
    session: SessionSpec


@dataclass(slots=True)
class Quarantined:
    """A legacy row that cannot be imported as it is: kept with its key and the reason."""

    unit: str
    reason: Reason
    row: dict[str, Any]


Record = MessageRecord | SessionRecord | Quarantined


@dataclass(slots=True)
class Batch:
    """Records of up to ``--batch-size`` legacy rows and where to continue after them."""

    records: list[Record]
    checkpoint: dict[str, Any]
    users_created: int = 0

    @property
    def units(self) -> int:
        return len({record.unit for record in self.records})


def batched(units: Iterator[tuple[list[Record], dict[str, Any]]], *, batch_size: int) -> Iterator[Batch]:
    """Group a stream of (records of one legacy row, position after it) into batches of rows."""
    records: list[Record] = []
    rows = 0
    position: dict[str, Any] = {}
    for unit_records, position in units:
        records.extend(unit_records)
        rows += 1
        if rows >= batch_size:
            yield Batch(records, position)
            records, rows = [], 0
    if records:
        yield Batch(records, position)
