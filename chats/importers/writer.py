"""The one writer every source feeds: a batch of records becomes bulk writes to the chat store.

Per batch: the keys it will write are recorded first (so ``--rollback`` can find them), then
messages and new sessions are inserted with ``insert_many(ordered=False)``, where a duplicate key
means "already there", and sessions that existed before move their counters forward with ``$max``
(a replayed batch cannot push them past the truth). Every filter starts with ``user_id``.

Documents come from ``chats.builders`` like every other chat document and are encoded as the ORM
stores them (``chats.store.to_document``); only ids, times, counters and the import provenance are
the legacy row's. ``tests/chats/test_migrate_chats.py`` holds them equal to what the ORM stores.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bson import Int64, ObjectId
from django.conf import settings
from pymongo import UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from chats import builders, search, search_index, store
from chats.exceptions import InvalidChatInput
from chats.importers import runs, values
from chats.importers.records import (
    Batch,
    MessageRecord,
    Quarantined,
    Reason,
    SessionRecord,
    SessionSpec,
    derived_object_id,
)
from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage, VoteType
from chats.services import title_from, validate_metadata

DUPLICATE_KEY = 11000
MODEL_MAX_CHARS = 100


@dataclass
class Counts:
    """Read legacy rows = inserted + already present + quarantined, always."""

    read: int = 0
    inserted: int = 0
    already_present: int = 0
    quarantined: int = 0
    sessions_inserted: int = 0
    messages_inserted: int = 0

    def add(self, other: Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Counts:
        return cls(**{name: int((values or {}).get(name, 0)) for name in cls.__dataclass_fields__})


@dataclass
class BatchOutcome:
    counts: Counts
    days: set[date] = field(default_factory=set)
    # (legacy unit, reason) of each row quarantined (or, in a dry run, that would be).
    quarantined: list[tuple[str, str]] = field(default_factory=list)


def _naive_utc(moment: datetime) -> datetime:
    """The form the ORM stores: naive UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _utc(moment: datetime) -> datetime:
    """An aware UTC time for the model (a naive legacy time is UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_safe(value: Any, *, empty: Any) -> Any:
    """Legacy JSON as it is, or as text when MongoDB could not store its keys."""
    if value is None:
        return empty
    try:
        validate_metadata({"value": value})
    except InvalidChatInput:
        text = json.dumps(value, default=str, ensure_ascii=False)
        return {"legacy_json": text} if isinstance(empty, dict) else [text]
    return value


def _title(spec_title: str) -> str:
    return title_from(spec_title, max_chars=settings.CHAT_TITLE_MAX_CHARS) if spec_title else ""


def provenance(*, source: str, legacy_key: str, run_id: str | None, batch_no: int) -> dict[str, Any]:
    """Where an imported document came from; (run, batch) tells a replayed batch its own writes."""
    return {"source": source, "key": legacy_key, "run": run_id, "batch": batch_no}


@dataclass
class SessionProgress:
    """What a batch's stored messages say about their session: how many it holds (the highest order,
    or with branches the highest ``count_after``), latest time, title."""

    last_order: int
    last_at: datetime
    title: str = ""


def _progress(messages: Iterable[MessageRecord]) -> dict[tuple[int, str], SessionProgress]:
    found: dict[tuple[int, str], SessionProgress] = {}
    for message in messages:
        key = message.session.target_key
        progress = found.get(key)
        count = message.count_after or message.order
        if progress is None:
            progress = found[key] = SessionProgress(last_order=count, last_at=message.created_at)
        progress.last_order = max(progress.last_order, count)
        progress.last_at = max(progress.last_at, message.created_at)
        if message.titles_session and not progress.title:
            progress.title = _title(message.content)
    return found


def imported_session(
    spec: SessionSpec,
    *,
    run_id: str | None,
    batch_no: int = 0,
    progress: SessionProgress | None = None,
    pk: ObjectId | None = None,
) -> ChatSession:
    """The session as the builder makes it; with ``progress``, already counting its first messages.

    ``pk`` is the stored session's when it exists already, else the one derived from its legacy key.
    """
    if spec.keep_title and spec.title:
        title = spec.title[: settings.CHAT_TITLE_MAX_CHARS]
    else:
        title = _title(spec.title or (progress.title if progress else ""))
    updated_at = spec.updated_at or spec.created_at
    if progress is not None:
        updated_at = max(updated_at, progress.last_at)
    metadata = dict(_json_safe(spec.metadata, empty={}))
    metadata["import"] = provenance(
        source=spec.source, legacy_key=spec.legacy_key, run_id=run_id, batch_no=batch_no
    )
    return builders.session(
        pk=spec.object_id if pk is None else pk,
        session_id=spec.session_id,
        user_id=spec.user_id,
        title=title,
        channel=spec.channel,
        is_active=spec.is_active,
        tags=spec.tags,
        metadata=metadata,
        message_count=progress.last_order if progress else 0,
        active_branch=spec.active_branch,
        branches=spec.branches,
        last_message_at=_utc(progress.last_at) if progress else None,
        created_at=_utc(spec.created_at),
        updated_at=_utc(updated_at),
    )


def session_document(
    spec: SessionSpec, *, run_id: str | None, batch_no: int = 0, progress: SessionProgress | None = None
) -> dict[str, Any]:
    return store.to_document(imported_session(spec, run_id=run_id, batch_no=batch_no, progress=progress))


def message_document(
    record: MessageRecord, *, session: ChatSession, run_id: str | None, batch_no: int = 0
) -> dict[str, Any]:
    return store.to_document(imported_message(record, session=session, run_id=run_id, batch_no=batch_no))


def imported_message(
    record: MessageRecord, *, session: ChatSession, run_id: str | None, batch_no: int = 0
) -> ChatMessage:
    metadata = dict(_json_safe(record.metadata, empty={}))
    metadata["import"] = provenance(
        source=record.session.source, legacy_key=record.legacy_key, run_id=run_id, batch_no=batch_no
    )
    message = builders.message(
        pk=_message_object_id(record),
        session=session,
        role=record.role,
        content=record.content,
        message_id=record.message_id,
        created_at=_utc(record.created_at),
        order=record.order,
        branch=record.branch,
        status=record.status,
        model=record.model[:MODEL_MAX_CHARS],
        parent_message_id=record.parent_message_id,
        source_documents=_json_safe(record.source_documents, empty=[]),
        agent_steps=_json_safe(record.agent_steps, empty=[]),
        attachments=_json_safe(record.attachments, empty=[]),
        error_info=_json_safe(record.error_info, empty={}),
        metadata=metadata,
        search_terms=record.search_terms,
    )
    if record.vote and record.vote.get("vote_type") in VoteType.values:
        message.vote = str(record.vote["vote_type"])
    return message


def extras_documents(
    record: MessageRecord, *, message: ChatMessage, session: ChatSession
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The vote and token-usage documents a Medibot export carried for ``record`` (or None each).

    Their ObjectIds derive from the message's, so a replayed batch writes the same documents.
    """
    vote_document = usage_document = None
    vote, usage = record.vote or {}, record.usage or {}
    if vote.get("vote_type") in VoteType.values:
        created = _moment_or(vote.get("created_at"), record.created_at)
        vote_document = store.to_document(
            builders.vote(
                session=session,
                message=message,
                vote_type=str(vote["vote_type"]),
                reason=str(vote.get("reason") or "")[:500],
                created_at=created,
                updated_at=_moment_or(vote.get("updated_at"), created),
                pk=derived_object_id("vote", str(message.pk), created),
            )
        )
    if usage:
        try:
            cost = Decimal(str(usage.get("cost") or 0))
            prompt, completion = (
                int(usage.get("prompt_tokens") or 0),
                int(usage.get("completion_tokens") or 0),
            )
        except (InvalidOperation, TypeError, ValueError):
            return vote_document, None
        entry = builders.token_usage(
            session=session,
            message=message,
            model=str(usage.get("model") or "")[:MODEL_MAX_CHARS],
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost=cost,
        )
        entry.pk = derived_object_id("usage", str(message.pk), record.created_at)
        entry.total_tokens = int(usage.get("total_tokens") or prompt + completion)
        entry.created_at = _moment_or(usage.get("created_at"), record.created_at)
        usage_document = store.to_document(entry)
    return vote_document, usage_document


def _moment_or(value: Any, fallback: datetime) -> datetime:
    try:
        return _utc(values.parse_timestamp(value)) if value else _utc(fallback)
    except values.BadValue:
        return _utc(fallback)


def prepare(batch: Batch) -> Batch:
    """The CPU work of a batch's documents (search terms), done while the last batch is written."""
    for record in batch.records:
        if isinstance(record, MessageRecord):
            record.search_terms = search.document_keys(record.session.user_id, record.content)
    return batch


def _message_object_id(record: MessageRecord) -> ObjectId:
    return derived_object_id(
        record.session.source, f"{record.session.user_id}:{record.legacy_key}", record.created_at
    )


def sessions_collection() -> Collection[dict[str, Any]]:
    return store.collection(ChatSession)


def messages_collection() -> Collection[dict[str, Any]]:
    return store.collection(ChatMessage)


def votes_collection() -> Collection[dict[str, Any]]:
    return store.collection(MessageVote)


def usage_collection() -> Collection[dict[str, Any]]:
    return store.collection(TokenUsage)


def _by_user(pairs: Iterable[tuple[int, str]]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = defaultdict(list)
    for user_id, public_id in pairs:
        if public_id not in grouped[user_id]:
            grouped[user_id].append(public_id)
    return grouped


def existing_sessions(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict[str, Any]]:
    """Stored sessions by (user_id, session_id): one index range per user."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for user_id, session_ids in _by_user(keys).items():
        for document in sessions_collection().find(
            {"user_id": Int64(user_id), "session_id": {"$in": session_ids}},
            {"_id": 1, "session_id": 1, "title": 1, "metadata.import.run": 1, "metadata.import.batch": 1},
        ):
            found[(user_id, document["session_id"])] = document
    return found


def existing_messages(
    keys: Iterable[tuple[int, str]],
) -> dict[tuple[int, str], tuple[str | None, int | None]]:
    """Which (user_id, message_id) are stored, with the (run, batch) that imported each."""
    found: dict[tuple[int, str], tuple[str | None, int | None]] = {}
    for user_id, message_ids in _by_user(keys).items():
        for document in messages_collection().find(
            {"user_id": Int64(user_id), "message_id": {"$in": message_ids}},
            {"_id": 0, "message_id": 1, "metadata.import.run": 1, "metadata.import.batch": 1},
        ):
            found[(user_id, document["message_id"])] = import_origin(document)
    return found


def import_origin(document: dict[str, Any]) -> tuple[str | None, int | None]:
    """The (run, batch) that imported a stored document; (None, None) for live traffic's."""
    imported = (document.get("metadata") or {}).get("import")
    if not isinstance(imported, dict):
        return None, None
    return imported.get("run"), imported.get("batch")


def import_run_of(document: dict[str, Any]) -> str | None:
    return import_origin(document)[0]


_RANK = {"already_present": 0, "inserted": 1, "quarantined": 2}


class _Ledger:
    """One outcome per legacy row: quarantined beats inserted beats already present."""

    def __init__(self) -> None:
        self.outcome: dict[str, str] = {}

    def mark(self, unit: str, outcome: str) -> None:
        previous = self.outcome.get(unit)
        if previous is None or _RANK[outcome] > _RANK[previous]:
            self.outcome[unit] = outcome

    def counts(self) -> Counts:
        counts = Counts(read=len(self.outcome))
        for outcome in self.outcome.values():
            setattr(counts, outcome, getattr(counts, outcome) + 1)
        return counts


@dataclass
class _Split:
    sessions: dict[tuple[int, str], SessionSpec]
    session_units: dict[tuple[int, str], list[str]]
    messages: list[MessageRecord]
    quarantined: list[tuple[str, str, Reason, dict[str, Any]]]


def _split(batch: Batch) -> _Split:
    split = _Split(sessions={}, session_units=defaultdict(list), messages=[], quarantined=[])
    for record in batch.records:
        if isinstance(record, Quarantined):
            split.quarantined.append((record.unit, record.unit, record.reason, record.row))
            continue
        spec = record.session
        split.sessions.setdefault(spec.target_key, spec)
        if isinstance(record, SessionRecord):
            split.session_units[spec.target_key].append(record.unit)
        else:
            split.messages.append(record)
    return split


class Writer:
    """Writes batches for one run (``run_id``), or only says what it would write (``dry_run``)."""

    def __init__(self, *, run_id: str | None, source_ref: str, dry_run: bool = False) -> None:
        self.run_id = run_id
        self.source_ref = source_ref
        self.dry_run = dry_run
        self.batch_no = 0

    def _replayed(self, origin: tuple[str | None, int | None]) -> bool:
        """Written by this very batch in an attempt killed before its checkpoint."""
        return self.run_id is not None and origin == (self.run_id, self.batch_no)

    def write(self, batch: Batch, *, batch_no: int) -> BatchOutcome:
        self.batch_no = batch_no
        split = _split(batch)
        ledger = _Ledger()
        outcome = BatchOutcome(counts=Counts())
        if self.dry_run:
            self._pretend(split, ledger)
        else:
            runs.record_batch_keys(
                run_id=str(self.run_id),
                batch_no=batch_no,
                sessions=list(split.sessions),
                messages=[(m.session.user_id, m.message_id) for m in split.messages],
            )
            self._write(split, ledger, outcome)
            self._quarantine(split.quarantined)
        for unit, _key, reason, _row in split.quarantined:
            ledger.mark(unit, "quarantined")
            outcome.quarantined.append((unit, getattr(reason, "value", str(reason))))
        outcome.counts.add(ledger.counts())
        return outcome

    def _pretend(self, split: _Split, ledger: _Ledger) -> None:
        stored_sessions = existing_sessions(split.sessions)
        stored_messages = existing_messages((m.session.user_id, m.message_id) for m in split.messages)
        for key, units in split.session_units.items():
            for unit in units:
                ledger.mark(unit, "already_present" if key in stored_sessions else "inserted")
        for message in split.messages:
            present = (message.session.user_id, message.message_id) in stored_messages
            ledger.mark(message.unit, "already_present" if present else "inserted")

    def _write(self, split: _Split, ledger: _Ledger, outcome: BatchOutcome) -> None:
        """Messages first, then the sessions that are new (with their final counters), then ``$max``
        on the sessions that already existed. A session that does not exist yet gets the ObjectId
        derived from its legacy key, so its messages can be written before it; until it is, they are
        invisible (a session never claims messages that are not there).
        """
        existing = existing_sessions(split.sessions)
        pks = {
            key: existing[key]["_id"] if key in existing else spec.object_id
            for key, spec in split.sessions.items()
        }
        stored = self._insert_messages(split.messages, pks, split, ledger, outcome)
        created = self._insert_sessions(split, existing, stored, ledger, outcome)
        self._advance_sessions([m for m in stored if m.session.target_key not in created], existing)

    def _insert_sessions(
        self,
        split: _Split,
        existing: dict[tuple[int, str], dict[str, Any]],
        messages: list[MessageRecord],
        ledger: _Ledger,
        outcome: BatchOutcome,
    ) -> set[tuple[int, str]]:
        """Insert the sessions that do not exist yet; returns the keys this batch created.

        A plain insert, not an upsert: the document keeps the ORM's field order.
        """
        replayed = {key for key, document in existing.items() if self._replayed(import_origin(document))}
        new = [key for key in split.sessions if key not in existing]
        progress = _progress(messages)
        failed: set[int] = set()
        if new:
            try:
                sessions_collection().insert_many(
                    [
                        session_document(
                            split.sessions[key],
                            run_id=self.run_id,
                            batch_no=self.batch_no,
                            progress=progress.get(key),
                        )
                        for key in new
                    ],
                    ordered=False,
                )
            except BulkWriteError as error:
                _raise_unless_duplicates(error)
                failed = {item["index"] for item in error.details["writeErrors"]}
        created = {key for index, key in enumerate(new) if index not in failed}
        lost = {key for index, key in enumerate(new) if index in failed}
        if lost:
            self._withdraw(lost, messages, split, ledger, outcome)
        for key, units in split.session_units.items():
            for unit in units:
                if key in lost:
                    split.quarantined.append((unit, unit, Reason.SESSION_OWNED, {}))
                else:
                    ledger.mark(unit, "inserted" if key in created | replayed else "already_present")
        for key in created | replayed:
            outcome.days.add(_naive_utc(split.sessions[key].created_at).date())
        outcome.counts.sessions_inserted += len(created | replayed)
        return created

    def _withdraw(
        self,
        lost: set[tuple[int, str]],
        messages: list[MessageRecord],
        split: _Split,
        ledger: _Ledger,
        outcome: BatchOutcome,
    ) -> None:
        """Someone else created these sessions meanwhile: take back the messages written for them."""
        for message in messages:
            if message.session.target_key not in lost:
                continue
            messages_collection().delete_one(
                {
                    "user_id": Int64(message.session.user_id),
                    "message_id": message.message_id,
                    "metadata.import.run": self.run_id,
                    "metadata.import.batch": self.batch_no,
                }
            )
            if ledger.outcome.get(message.unit) == "inserted":
                outcome.counts.messages_inserted -= 1
            split.quarantined.append((message.unit, message.legacy_key, Reason.SESSION_OWNED, {}))
        messages[:] = [m for m in messages if m.session.target_key not in lost]

    def _insert_messages(
        self,
        messages: list[MessageRecord],
        pks: dict[tuple[int, str], ObjectId],
        split: _Split,
        ledger: _Ledger,
        outcome: BatchOutcome,
    ) -> list[MessageRecord]:
        """Insert new messages; returns those now stored (inserted now or before)."""
        if not messages:
            return []
        owners = {
            key: imported_session(split.sessions[key], run_id=self.run_id, batch_no=self.batch_no, pk=pk)
            for key, pk in pks.items()
        }
        models = [
            imported_message(
                m, session=owners[m.session.target_key], run_id=self.run_id, batch_no=self.batch_no
            )
            for m in messages
        ]
        docs = [store.to_document(model) for model in models]
        failed: set[int] = set()
        try:
            search_index.index_documents(docs)  # a replayed duplicate counts its terms again: harmless
            messages_collection().insert_many(docs, ordered=False)
        except BulkWriteError as error:
            _raise_unless_duplicates(error)
            failed = {item["index"] for item in error.details["writeErrors"]}
        present = existing_messages(
            (messages[index].session.user_id, messages[index].message_id) for index in failed
        )
        kept: list[MessageRecord] = []
        written: list[tuple[MessageRecord, ChatMessage]] = []
        for index, message in enumerate(messages):
            key = (message.session.user_id, message.message_id)
            if index not in failed or (key in present and self._replayed(present[key])):
                # New, or written by an attempt of this batch that was killed before its checkpoint.
                ledger.mark(message.unit, "inserted")
                outcome.counts.messages_inserted += 1
                outcome.days.add(_naive_utc(message.created_at).date())
                kept.append(message)
                written.append((message, models[index]))
            elif key in present:
                ledger.mark(message.unit, "already_present")
                kept.append(message)
            else:
                split.quarantined.append(
                    (message.unit, message.legacy_key, Reason.ORDER_TAKEN, {"order": message.order})
                )
        self._insert_extras(written, owners)
        return kept

    def _insert_extras(
        self, written: list[tuple[MessageRecord, ChatMessage]], owners: dict[tuple[int, str], ChatSession]
    ) -> None:
        """Votes and token usage of the messages this batch wrote; one of each per message (unique
        indexes), so a replay or a vote cast since the first import is left as it is."""
        votes, usage = [], []
        for record, message in written:
            if not (record.vote or record.usage):
                continue
            vote_document, usage_document = extras_documents(
                record, message=message, session=owners[record.session.target_key]
            )
            votes += [vote_document] if vote_document else []
            usage += [usage_document] if usage_document else []
        for collection, documents in ((votes_collection(), votes), (usage_collection(), usage)):
            if not documents:
                continue
            try:
                collection.insert_many(documents, ordered=False)
            except BulkWriteError as error:
                _raise_unless_duplicates(error)

    def _advance_sessions(
        self, messages: list[MessageRecord], existing: dict[tuple[int, str], dict[str, Any]]
    ) -> None:
        """Counters of sessions that existed move forward only (``$max``), so a replay cannot push
        them past the truth; an untitled session takes its first user message as title."""
        operations = []
        for key, progress in _progress(messages).items():
            change: dict[str, Any] = {
                "$max": {
                    "message_count": Int64(progress.last_order),
                    "last_message_at": _naive_utc(progress.last_at),
                    "updated_at": _naive_utc(progress.last_at),
                }
            }
            if progress.title and not existing[key].get("title"):
                change["$set"] = {
                    "title": progress.title,
                    "search_terms": search.document_keys(key[0], progress.title),
                }
            operations.append(UpdateOne({"user_id": Int64(key[0]), "session_id": key[1]}, change))
        if operations:
            sessions_collection().bulk_write(operations, ordered=False)

    def _quarantine(self, entries: list[tuple[str, str, Reason, dict[str, Any]]]) -> None:
        if not entries:
            return
        moment = store.now()
        operations = [
            UpdateOne(
                {"_id": f"{self.source_ref}|{key}"},
                {
                    "$set": {
                        "source_ref": self.source_ref,
                        "key": key,
                        "unit": unit,
                        "reason": reason.value,
                        "row": row,
                        "run_id": self.run_id,
                        "last_seen_at": moment,
                    },
                    "$setOnInsert": {"first_run_id": self.run_id, "first_seen_at": moment},
                },
                upsert=True,
            )
            for unit, key, reason, row in entries
        ]
        runs.quarantine_collection().bulk_write(operations, ordered=False)


def _raise_unless_duplicates(error: BulkWriteError) -> None:
    details = error.details
    if details.get("writeConcernErrors") or any(
        item.get("code") != DUPLICATE_KEY for item in details.get("writeErrors", [])
    ):
        raise error
