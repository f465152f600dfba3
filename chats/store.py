"""Direct pymongo access for the hot write paths of the chat store.

The ORM serves reads, the admin and simple updates. Writes that must stand or fall together
(a message and its session counters; a session and its messages on delete) run here in a
pymongo transaction with the driver's own retry of transient errors. Documents are encoded
by the model fields themselves (``get_db_prep_save``), so they are exactly what the ORM writes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pymongo
from bson import Int64, ObjectId
from bson import decode as bson_decode
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from django.conf import settings
from django.db import connections
from django.db.models import Model
from django.utils import timezone
from django_mongodb_backend.queryset import RawQuery, RawQuerySet
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, PyMongoError
from pymongo.mongo_client import MongoClient

from chats import crypto
from medibot.routers import CHATS_ALIAS

logger = logging.getLogger(__name__)

# Budget of the abort of a failed transaction, outside the request's own (expired) deadline.
ABORT_TIMEOUT_SECONDS = 5.0

T = TypeVar("T")
M = TypeVar("M", bound=Model)


def client() -> MongoClient[dict[str, Any]]:
    connection = connections[CHATS_ALIAS]
    connection.ensure_connection()
    return connection.connection


def database() -> Database[dict[str, Any]]:
    return client()[connections[CHATS_ALIAS].settings_dict["NAME"]]


def raw_database() -> Database[dict[str, Any]]:
    """The chat database without the decrypting decoder: documents exactly as stored (full-store
    backups, in-place encryption); aware datetimes like the ORM's."""
    chats = database()
    return chats.client.get_database(chats.name, codec_options=CodecOptions(tz_aware=True, tzinfo=UTC))


def collection(model: type[Model]) -> Collection[dict[str, Any]]:
    return database()[model._meta.db_table]


class _Documents(list[dict[str, Any]]):
    """Already fetched documents, iterated like the cursor a raw query holds."""

    def close(self) -> None:
        pass


class _OpenedRawQuery(RawQuery):
    """The ORM's raw aggregation, read undecoded and then decoded by the ``chats`` decoder, so that
    a value under a destroyed key raises ``crypto.PatientKeyErased`` itself (a pymongo cursor's own
    decoding would wrap it in ``InvalidBSON``)."""

    def _execute_query(self) -> None:
        connection: Any = connections[self.using]  # django-mongodb-backend's wrapper (untyped)
        options = connection.database.codec_options
        raw = connection.get_collection(  # logged like the ORM's own queries (query-count tests)
            self.model._meta.db_table,
            codec_options=options.with_options(document_class=RawBSONDocument, type_registry=None),
        )
        found = list(raw.aggregate(self.pipeline, session=connection.session))
        self.cursor = _Documents([bson_decode(document.raw, codec_options=options) for document in found])


def raw_aggregate(model: type[M], pipeline: list[dict[str, Any]]) -> list[M]:
    """``model.objects.raw_aggregate(pipeline)``, fetched; see ``_OpenedRawQuery``."""
    queryset = RawQuerySet(pipeline, model=model, using=CHATS_ALIAS)
    queryset.query = _OpenedRawQuery(pipeline, using=CHATS_ALIAS, model=model)
    return list(queryset)


def now() -> datetime:
    """Aware UTC now truncated to milliseconds, the precision BSON dates keep."""
    moment = timezone.now()
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def to_document(instance: Model) -> dict[str, Any]:
    """The BSON document stored for ``instance`` (the ORM's encoding; content fields encrypted when
    CHAT_ENCRYPTION is on, see ``chats.crypto``); assigns an ObjectId if missing. The instance keeps
    its plaintext."""
    connection = connections[CHATS_ALIAS]
    if instance.pk is None:
        instance.pk = ObjectId()
    document = {
        field.column: field.get_db_prep_save(getattr(instance, field.attname), connection)
        for field in instance._meta.concrete_fields
    }
    return crypto.seal_document(instance._meta.db_table, document)


def mark_saved(instance: M) -> M:
    instance._state.adding = False
    instance._state.db = CHATS_ALIAS
    return instance


def request_timeout() -> AbstractContextManager[None]:
    """The short client-side deadline of chat request paths (settings.MONGODB_TIMEOUT_MS)."""
    return pymongo.timeout(settings.MONGODB_TIMEOUT_MS / 1000)


def run_transaction(callback: Callable[[ClientSession], T]) -> T:
    """Run ``callback`` in one multi-document transaction.

    Every attempt has the short request deadline (``request_timeout()``), so an unreachable
    server fails fast, and the commit carries the same bound to the server (``maxCommitTimeMS``).
    Write conflicts — the server is healthy, another writer won the race — are retried with
    jittered backoff, at most ``MONGODB_CONFLICT_MAX_ATTEMPTS`` times and for at most
    ``MONGODB_CONFLICT_RETRY_SECONDS``. No failed attempt leaves a transaction open on the server
    (see ``_release``).
    """
    deadline = time.monotonic() + settings.MONGODB_CONFLICT_RETRY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            with client().start_session() as session:
                return _attempt(session, callback)
        except OperationFailure as exc:
            if (
                not _is_write_conflict(exc)
                or time.monotonic() >= deadline
                or attempt >= settings.MONGODB_CONFLICT_MAX_ATTEMPTS
            ):
                raise
        time.sleep(random.uniform(0, min(0.1, 0.004 * 2 ** min(attempt, 8))))  # nosec B311 - retry jitter, not security


def _attempt(session: ClientSession, callback: Callable[[ClientSession], T]) -> T:
    """One transaction under the request deadline; on any failure ``_release`` frees the server."""
    committing = False
    try:
        with request_timeout():
            session.start_transaction(max_commit_time_ms=settings.MONGODB_TIMEOUT_MS)
            result = callback(session)
            committing = True
            session.commit_transaction()
            return result
    except BaseException as exc:
        _release(session, commit_outcome_unknown=committing and _outcome_unknown(exc))
        raise


def _outcome_unknown(exc: BaseException) -> bool:
    """Whether a failed commit may still have committed (or still be held) on the server.

    A write conflict at commit is a definite "not committed" (the server aborted it); a timeout,
    a lost connection or ``UnknownTransactionCommitResult`` is not.
    """
    if not isinstance(exc, PyMongoError):
        return True
    if exc.has_error_label("TransientTransactionError") and not exc.timeout:
        return False
    unknown = exc.has_error_label("UnknownTransactionCommitResult") or exc.timeout
    return bool(unknown or isinstance(exc, ConnectionFailure))


def _release(session: ClientSession, *, commit_outcome_unknown: bool) -> None:
    """Make sure the server keeps nothing of a failed transaction, under a deadline of its own.

    Aborting inside the expired request deadline sends nothing. And when ``commit_transaction()``
    itself fails (typically on that deadline) pymongo records the transaction as committed, so
    ``abort_transaction()`` is refused although the server may still hold it with its locks until
    its lifetime limit (60 s), blocking every plain write behind it. Then the server session is
    killed (``killSessions`` aborts whatever it still holds; harmless if the commit went through)
    and discarded from the driver's pool. The outcome stays unknown to the caller, which is why
    chat writes carry their final ids and are idempotent.
    """
    try:
        with pymongo.timeout(ABORT_TIMEOUT_SECONDS):
            if session.in_transaction:
                session.abort_transaction()
            elif commit_outcome_unknown:
                client().admin.command("killSessions", [session.session_id])
                server_session = getattr(session, "_server_session", None)
                if server_session is not None:
                    server_session.mark_dirty()
                logger.warning("chat transaction commit outcome unknown; its server session was killed")
    except PyMongoError:
        logger.warning("could not release a failed chat transaction; the server will expire it")


def _is_write_conflict(exc: OperationFailure) -> bool:
    return exc.has_error_label("TransientTransactionError") and not isinstance(
        exc, (ConnectionFailure, ExecutionTimeout)
    )


def is_outage(exc: BaseException) -> bool:
    """True when ``exc`` means MongoDB could not be reached or did not answer in time."""
    return isinstance(exc, PyMongoError) and (isinstance(exc, ConnectionFailure) or exc.timeout)


def owned(session: Any) -> dict[str, Any]:
    """The filter of one session together with its owner (``_id`` and the shard key ``user_id``)."""
    return {"_id": session.pk, "user_id": Int64(session.user_id)}
