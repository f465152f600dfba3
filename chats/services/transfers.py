"""Imports and exports a patient starts from the page, each a Celery task with a progress record.

An import is ``migrate_chats``'s: ``chats.importers.uploads.open_upload`` opens the same source
``--source KIND --path FILE --user USERNAME`` would, and ``runner.migrate`` writes it, so it
resumes, quarantines with reasons and can be rolled back like any other run. The uploaded file
waits in a private folder under CHAT_TRANSFER_DIR and is deleted when the import ends; a built
export stays for CHAT_EXPORT_KEEP_HOURS for its owner to download. The ``chat_transfers``
document is the state the page polls; cancelling is a flag the run reads at each batch boundary.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model

from chats import exporters, store
from chats.exceptions import InvalidChatInput, StoreUnavailable, TransferNotFound, UploadTooLarge
from chats.importers import runner
from chats.importers.uploads import ForeignOwner, InvalidUpload, check_upload, open_upload, upload_sources
from chats.importers.writer import Counts
from chats.selectors.transfers import (
    State,
    Transfer,
    cancel_requested,
    find_transfer,
    get_transfer,
    transfers_collection,
)

logger = logging.getLogger(__name__)

QUARANTINE_SHOWN = 100  # quarantine reasons a result lists (the run's full list is in migrate_chats)
CHUNK = 1024 * 1024
LEFTOVER_AFTER = timedelta(hours=6)


class TransferCancelled(Exception):
    """Raised inside an export when its owner cancelled it."""


def _folder(transfer_id: str) -> Path:
    root = Path(settings.CHAT_TRANSFER_DIR)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = root / transfer_id
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def _remove_folder(transfer_id: str) -> None:
    shutil.rmtree(Path(settings.CHAT_TRANSFER_DIR) / transfer_id, ignore_errors=True)


def _insert(*, transfer_id: str, user_id: int, kind: str, source: str, path: str) -> Transfer:
    document: dict[str, Any] = {
        "_id": transfer_id,
        "user_id": int(user_id),
        "kind": kind,
        "source": source,
        "state": State.QUEUED,
        "created_at": store.now(),
        "progress": None,
        "result": None,
        "error": "",
        "cancel_requested": False,
        "path": path,
    }
    transfers_collection().insert_one(document)
    return Transfer.from_document(document)


def _set(transfer_id: str, **fields: Any) -> None:
    transfers_collection().update_one({"_id": transfer_id}, {"$set": fields})


def _enqueue(transfer: Transfer, send: Callable[[str], Any]) -> Transfer:
    """Queue the task; a broker that refuses leaves no file and no queued record behind."""
    try:
        send(transfer.transfer_id)
    except Exception as exc:
        _remove_folder(transfer.transfer_id)
        _set(transfer.transfer_id, state=State.FAILED, error="could not be queued", finished_at=store.now())
        logger.warning(
            "chat transfer not queued",
            extra={"transfer_id": transfer.transfer_id, "error": exc.__class__.__name__},
        )
        raise StoreUnavailable("The import/export queue is unavailable; try again in a minute.") from exc
    return transfer


# --- import ----------------------------------------------------------------------------------------


def start_import(*, user_id: int, upload: IO[bytes], size: int, source: str) -> Transfer:
    """Keep the upload privately, check it is what ``source`` reads, queue its import."""
    if source not in upload_sources():
        raise InvalidChatInput(f"source must be one of {', '.join(upload_sources())}.")
    check_upload_size(size)
    transfer_id = uuid.uuid4().hex
    folder = _folder(transfer_id)
    path = folder / "upload"
    try:
        written = 0
        with path.open("wb") as target:
            path.chmod(0o600)
            while chunk := upload.read(CHUNK):
                written += len(chunk)
                check_upload_size(written)
                target.write(chunk)
        form = check_upload(path, kind=source)
        named = folder / ("export.zip" if form == "zip" else "conversations.json")
        path.rename(named)
    except InvalidUpload as exc:
        _remove_folder(transfer_id)
        raise InvalidChatInput(str(exc)) from exc
    except BaseException:
        _remove_folder(transfer_id)
        raise
    transfer = _insert(
        transfer_id=transfer_id, user_id=user_id, kind="import", source=source, path=str(named)
    )
    from chats.importers.tasks import import_chat_file  # the task module imports this one

    return _enqueue(transfer, lambda ident: import_chat_file.delay(ident))


def check_upload_size(size: int) -> None:
    limit = int(settings.CHAT_IMPORT_MAX_BYTES)
    if size > limit:
        raise UploadTooLarge(f"The file is larger than the {limit} bytes an import may be.")


class _Recorder:
    """The runner's progress, written to the transfer document after every batch."""

    def __init__(self, transfer_id: str) -> None:
        self.transfer_id = transfer_id
        self.total: int | None = None
        self.counts = Counts()

    def start(self, *, total: int | None, done: int) -> None:
        self.total = total
        _set(self.transfer_id, progress={"total": total, **Counts(read=done).as_dict()})

    def update(self, counts: Counts) -> None:
        self.counts = Counts.from_dict(counts.as_dict())
        _set(self.transfer_id, progress={"total": self.total, **counts.as_dict()})

    def close(self) -> None:
        return None


def run_import(*, transfer_id: str) -> Transfer | None:
    """The task's body: import the upload into its owner's account, then delete the upload.

    Lets SoftTimeLimitExceeded through with the file kept: the task retries and the runner resumes
    the run at its last checkpoint.
    """
    transfer = find_transfer(transfer_id)
    if transfer is None or transfer.kind != "import" or transfer.ended:
        return transfer
    if transfer.cancel_requested:
        return _end_import(transfer, state=State.CANCELLED, counts=Counts(), report=None)
    username = get_user_model().objects.filter(pk=transfer.user_id).values_list("username", flat=True).first()
    if username is None:
        return _end_import(
            transfer, state=State.FAILED, counts=Counts(), report=None, error="no such account"
        )
    _set(transfer_id, state=State.RUNNING, started_at=store.now())
    recorder = _Recorder(transfer_id)
    try:
        source = open_upload(
            transfer.source, path=Path(transfer.path), username=username, user_id=transfer.user_id
        )
    except (InvalidUpload, ValueError) as exc:
        return _end_import(transfer, state=State.FAILED, counts=Counts(), report=None, error=str(exc)[:300])
    try:
        report = runner.migrate(
            source=source,
            batch_size=int(settings.CHAT_IMPORT_BATCH_SIZE),
            progress=recorder,
            stop=lambda: cancel_requested(transfer_id),
        )
    except SoftTimeLimitExceeded:
        raise
    except ForeignOwner:
        return _end_import(
            transfer,
            state=State.FAILED,
            counts=recorder.counts,
            report=None,
            error="The file holds conversations of another account; nothing more was imported.",
        )
    except Exception as exc:
        # The class only: a driver's error text can quote the documents (message text).
        logger.error(
            "chat import failed", extra={"transfer_id": transfer_id, "error": exc.__class__.__name__}
        )
        return _end_import(
            transfer,
            state=State.FAILED,
            counts=recorder.counts,
            report=None,
            error=f"The import stopped on a server error ({exc.__class__.__name__}). "
            "What it wrote is kept; importing the same file again completes it without duplicates.",
        )
    finally:
        source.close()
    state = State.CANCELLED if report.cancelled else State.FINISHED
    return _end_import(transfer, state=state, counts=report.counts, report=report)


def _end_import(
    transfer: Transfer,
    *,
    state: str,
    counts: Counts,
    report: runner.MigrationReport | None,
    error: str = "",
) -> Transfer | None:
    result: dict[str, Any] = {
        "run_id": report.run_id if report else None,
        **counts.as_dict(),
        "quarantine": [
            {"unit": unit, "reason": reason} for unit, reason in (report.quarantined if report else [])
        ][:QUARANTINE_SHOWN],
    }
    _remove_folder(transfer.transfer_id)
    _set(transfer.transfer_id, state=state, result=result, error=error, finished_at=store.now(), path="")
    logger.info(
        "chat import ended",
        extra={"transfer_id": transfer.transfer_id, "user_id": transfer.user_id, "state": state},
    )
    return find_transfer(transfer.transfer_id)


# --- export ----------------------------------------------------------------------------------------


def start_export(*, user_id: int) -> Transfer:
    """Queue the build of the caller's all-conversations zip (with its SHA-256 manifest)."""
    transfer_id = uuid.uuid4().hex
    transfer = _insert(transfer_id=transfer_id, user_id=user_id, kind="export", source="medibot", path="")
    from chats.tasks import export_all_chats  # the task module imports this one

    return _enqueue(transfer, lambda ident: export_all_chats.delay(ident))


def run_export(*, transfer_id: str) -> Transfer | None:
    """The task's body: the zip into the transfer's private folder, kept CHAT_EXPORT_KEEP_HOURS."""
    transfer = find_transfer(transfer_id)
    if transfer is None or transfer.kind != "export" or transfer.ended:
        return transfer
    if transfer.cancel_requested:
        return _end_export(transfer, state=State.CANCELLED, sessions=0)
    _set(transfer_id, state=State.RUNNING, started_at=store.now(), progress={"total": None, "sessions": 0})

    sessions = 0

    def written(count: int) -> None:
        nonlocal sessions
        sessions = count
        _set(transfer_id, progress={"total": None, "sessions": count})
        if cancel_requested(transfer_id):
            raise TransferCancelled

    try:
        spool = exporters.zip_archive(transfer.user_id, on_session=written)
        target = _folder(transfer_id) / "medibot-chats.zip"
        with spool, target.open("wb") as out:
            target.chmod(0o600)
            shutil.copyfileobj(spool, out, CHUNK)
    except TransferCancelled:
        return _end_export(transfer, state=State.CANCELLED, sessions=0)
    except SoftTimeLimitExceeded:
        _remove_folder(transfer_id)
        raise
    except Exception as exc:
        logger.error(
            "chat export failed", extra={"transfer_id": transfer_id, "error": exc.__class__.__name__}
        )
        return _end_export(
            transfer, state=State.FAILED, sessions=0, error=f"The export failed ({exc.__class__.__name__})."
        )
    moment = store.now()
    _set(
        transfer_id,
        state=State.FINISHED,
        result={"sessions": sessions, "bytes": target.stat().st_size},
        finished_at=moment,
        expires_at=moment + timedelta(hours=int(settings.CHAT_EXPORT_KEEP_HOURS)),
        path=str(target),
    )
    return find_transfer(transfer_id)


def _end_export(transfer: Transfer, *, state: str, sessions: int, error: str = "") -> Transfer | None:
    _remove_folder(transfer.transfer_id)
    _set(
        transfer.transfer_id,
        state=state,
        result={"sessions": sessions, "bytes": 0},
        error=error,
        finished_at=store.now(),
        path="",
    )
    return find_transfer(transfer.transfer_id)


# --- both ------------------------------------------------------------------------------------------


def request_cancel(*, user_id: int, transfer_id: str) -> Transfer:
    """Ask the caller's running or queued transfer to stop at its next batch boundary."""
    transfer = get_transfer(user_id=user_id, transfer_id=transfer_id)
    if not transfer.ended:
        _set(transfer_id, cancel_requested=True)
    return get_transfer(user_id=user_id, transfer_id=transfer_id)


def purge_expired_transfers() -> int:
    """Delete folders of ended transfers whose files are no longer wanted (expired exports, leftovers).

    Walks CHAT_TRANSFER_DIR (one folder per live transfer), not the collection. A folder without
    a record is an upload still being received unless it is older than LEFTOVER_AFTER.
    """
    root = Path(settings.CHAT_TRANSFER_DIR)
    if not root.is_dir():
        return 0
    now = store.now()
    removed = 0
    for folder in root.iterdir():
        transfer = find_transfer(folder.name)
        leftover = transfer is None and time.time() - folder.stat().st_mtime > LEFTOVER_AFTER.total_seconds()
        if leftover or (transfer is not None and transfer.ended and not transfer.downloadable(now)):
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
            if transfer is not None and transfer.path:
                _set(transfer.transfer_id, path="")
    return removed


def forget_user_transfers(*, user_id: int) -> int:
    """Delete every transfer of a user, record and files (a built export is a plaintext copy of
    their chats): account deletion. A running one is asked to stop first. Returns how many."""
    transfers = transfers_collection()
    owned = {"user_id": int(user_id)}
    transfers.update_many(owned, {"$set": {"cancel_requested": True}})
    found = [document["_id"] for document in transfers.find(owned, {"_id": 1})]
    for transfer_id in found:
        _remove_folder(transfer_id)
    transfers.delete_many({"_id": {"$in": found}})
    return len(found)


__all__ = [
    "TransferNotFound",
    "forget_user_transfers",
    "purge_expired_transfers",
    "request_cancel",
    "run_export",
    "run_import",
    "start_export",
    "start_import",
]
