"""``--verify``: every legacy conversation against its stored session, message by message.

For each conversation the source's messages (quarantined rows excluded) and the stored ones are
reduced to a count and a SHA-256 over the (branch, order, role, content, timestamp) list in
(branch, order) order, every branch of the session's branch table included; any difference, a
missing session, or a session counter that disagrees with its messages is a mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pymongo
from bson import Int64

from chats import branches
from chats.importers.records import MessageRecord, SessionRecord, SessionSpec
from chats.importers.sources import Source
from chats.importers.writer import messages_collection, sessions_collection

BATCH_TIMEOUT_SECONDS = 600


class ConversationDigest:
    """Count and SHA-256 of (branch, order, role, content, timestamp) taken in (branch, order) order,
    whatever order they were added in (one small digest per message is kept until the end)."""

    def __init__(self) -> None:
        self._entries: list[tuple[int, int, bytes]] = []

    def add(self, role: str, content: str, moment: datetime, *, branch: int = 0, order: int = 0) -> None:
        one = hashlib.sha256()
        for part in (str(branch), str(order), role, content, _millis(moment)):
            data = part.encode("utf-8", "surrogatepass")
            one.update(len(data).to_bytes(8, "big"))
            one.update(data)
        self._entries.append((branch, order, one.digest()))

    @property
    def count(self) -> int:
        return len(self._entries)

    @property
    def hexdigest(self) -> str:
        whole = hashlib.sha256()
        for entry in sorted(self._entries):
            whole.update(entry[2])
        return whole.hexdigest()


def _millis(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000).isoformat()


@dataclass(frozen=True)
class Mismatch:
    user_id: int
    session_id: str
    legacy_key: str
    problem: str

    def __str__(self) -> str:
        return f"user {self.user_id} session {self.session_id} (legacy {self.legacy_key}): {self.problem}"


@dataclass
class VerifyReport:
    conversations: int = 0
    messages: int = 0
    quarantined: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


@dataclass
class _Open:
    spec: SessionSpec
    digest: ConversationDigest


def verify(
    *, source: Source, batch_size: int = 1000, on_mismatch: Callable[[Mismatch], None] | None = None
) -> VerifyReport:
    """Compare every conversation of ``source`` with the chat store; writes nothing."""
    report = VerifyReport()

    def found(mismatch: Mismatch) -> None:
        report.mismatches.append(mismatch)
        if on_mismatch is not None:
            on_mismatch(mismatch)

    for conversation in _finished(source, batch_size, report):
        report.conversations += 1
        with pymongo.timeout(BATCH_TIMEOUT_SECONDS):
            problem = _compare(conversation, batch_size)
        if problem:
            spec = conversation.spec
            found(Mismatch(spec.user_id, spec.session_id, spec.legacy_key, problem))
    return report


def _finished(source: Source, batch_size: int, report: VerifyReport) -> Iterator[_Open]:
    """Conversations with their source digest, each once it is complete (source order groups them)."""
    current: _Open | None = None
    for batch in source.batches(None, batch_size=batch_size):
        for record in batch.records:
            if not isinstance(record, MessageRecord | SessionRecord):
                report.quarantined += 1
                continue
            if current is None or current.spec.target_key != record.session.target_key:
                if current is not None:
                    yield current
                current = _Open(spec=record.session, digest=ConversationDigest())
            if isinstance(record, MessageRecord):
                report.messages += 1
                current.digest.add(
                    record.role, record.content, record.created_at, branch=record.branch, order=record.order
                )
    if current is not None:
        yield current


def _compare(conversation: _Open, batch_size: int) -> str:
    spec, expected = conversation.spec, conversation.digest
    stored = sessions_collection().find_one(
        {"user_id": Int64(spec.user_id), "session_id": spec.session_id},
        {"_id": 1, "message_count": 1, "branches": 1},
    )
    if stored is None:
        return f"missing in the chat store (source has {expected.count} messages)"
    actual = ConversationDigest()
    counter = int(stored.get("message_count") or 0)
    every = branches.table(message_count=max(counter, expected.count), stored=stored.get("branches"))
    for branch in every.values():
        for message in _stored_messages(spec.user_id, stored["_id"], branch, batch_size):
            actual.add(
                message["role"],
                message["content"],
                message["created_at"],
                branch=branch.id,
                order=int(message["order"]),
            )
    if actual.count != expected.count:
        return f"source has {expected.count} messages, the chat store {actual.count}"
    if actual.hexdigest != expected.hexdigest:
        return f"messages differ (source sha256 {expected.hexdigest[:12]}…, stored {actual.hexdigest[:12]}…)"
    if counter != actual.count:
        return f"message_count is {counter} but the session has {actual.count} messages"
    return ""


def _stored_messages(
    user_id: int, session_pk: Any, branch: branches.Branch, batch_size: int
) -> Iterator[dict[str, Any]]:
    """The messages of one branch (orders ``first..tip``) in order, one index range of
    ``(user_id, session, branch, order)`` per batch."""
    low, highest = branch.first, branch.tip
    while low <= highest:
        high = low + batch_size - 1
        page = list(
            messages_collection().find(
                {
                    "user_id": Int64(user_id),
                    "session_id": session_pk,
                    "branch": branch.id,
                    "order": {"$gte": low, "$lte": high},
                },
                {"role": 1, "content": 1, "created_at": 1, "order": 1},
            )
        )
        yield from sorted(page, key=lambda message: message["order"])
        low = high + 1
