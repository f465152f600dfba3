"""Imports and exports a patient started from the page: one document each in ``chat_transfers``.

Read by ``_id`` alone (the only index), the owner compared afterwards: someone else's transfer
is not found, exactly like a transfer that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pymongo.collection import Collection

from chats import store
from chats.exceptions import TransferNotFound

TRANSFERS = "chat_transfers"


class State:
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CANCELLED = "cancelled"


ENDED = (State.FINISHED, State.FAILED, State.CANCELLED)


def transfers_collection() -> Collection[dict[str, Any]]:
    return store.database()[TRANSFERS]


@dataclass(frozen=True)
class Transfer:
    transfer_id: str
    user_id: int
    kind: str  # "import" or "export"
    source: str
    state: str
    created_at: datetime
    progress: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    cancel_requested: bool = False
    finished_at: datetime | None = None
    expires_at: datetime | None = None
    path: str = ""  # the upload or the built zip on the server; never shown

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Transfer:
        return cls(
            transfer_id=str(document["_id"]),
            user_id=int(document["user_id"]),
            kind=document["kind"],
            source=document.get("source", ""),
            state=document["state"],
            created_at=_aware(document["created_at"]),
            progress=document.get("progress"),
            result=document.get("result"),
            error=document.get("error") or None,
            cancel_requested=bool(document.get("cancel_requested")),
            finished_at=_aware(document.get("finished_at")),
            expires_at=_aware(document.get("expires_at")),
            path=document.get("path", ""),
        )

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    def downloadable(self, now: datetime) -> bool:
        return (
            self.kind == "export"
            and self.state == State.FINISHED
            and self.expires_at is not None
            and now < self.expires_at
            and bool(self.path)
            and Path(self.path).is_file()
        )


def _aware(moment: Any) -> Any:
    if isinstance(moment, datetime) and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def find_transfer(transfer_id: str) -> Transfer | None:
    """Any owner's transfer (for its task); None when there is none."""
    document = transfers_collection().find_one({"_id": str(transfer_id)})
    return Transfer.from_document(document) if document else None


def get_transfer(*, user_id: int, transfer_id: str) -> Transfer:
    """The caller's own transfer, else TransferNotFound."""
    transfer = find_transfer(transfer_id)
    if transfer is None or transfer.user_id != int(user_id):
        raise TransferNotFound()
    return transfer


def cancel_requested(transfer_id: str) -> bool:
    document = transfers_collection().find_one({"_id": str(transfer_id)}, {"cancel_requested": 1})
    return bool(document and document.get("cancel_requested"))


def export_download(*, user_id: int, transfer_id: str) -> Path:
    """The built zip of the caller's finished, unexpired export."""
    transfer = get_transfer(user_id=user_id, transfer_id=transfer_id)
    if not transfer.downloadable(store.now()):
        raise TransferNotFound("No download: the export is not finished, or it has expired.")
    return Path(transfer.path)
