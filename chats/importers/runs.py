"""Migration runs: their checkpoints, the per-source lock and the keys each batch wrote.

``migration_runs`` holds one document per run with the last committed source key, the counts so
far and the days it touched; it is rewritten after every batch, so a killed run resumes where it
stopped. ``migration_locks`` keeps one holder per source; a holder whose process is gone (or that
stopped beating for ``LOCK_STALE_AFTER``) is replaced. ``migration_run_items`` lists, per batch,
the session and message keys the run was about to write — ``--rollback`` starts from there.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils import timezone
from pymongo import DESCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from chats import store
from chats.exceptions import ChatError

RUNS = "migration_runs"
LOCKS = "migration_locks"
ITEMS = "migration_run_items"
QUARANTINE = "migration_quarantine"
LOCK_STALE_AFTER = timedelta(minutes=10)


class State:
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    ROLLED_BACK = "rolled_back"
    CANCELLED = "cancelled"  # stopped on request at a batch boundary; what it wrote stays


RESUMABLE = (State.RUNNING, State.FAILED, State.INTERRUPTED)


class SourceBusy(ChatError):
    """Another run holds the lock of this source."""


class RunNotFound(ChatError):
    pass


class OptionsChanged(ChatError):
    """A resumed run must read the source the way it started (same grouping, same user)."""


def collection(name: str) -> Collection[dict[str, Any]]:
    return store.database()[name]


def runs_collection() -> Collection[dict[str, Any]]:
    return collection(RUNS)


def quarantine_collection() -> Collection[dict[str, Any]]:
    return collection(QUARANTINE)


@dataclass
class Run:
    run_id: str
    source: str
    source_ref: str
    options: dict[str, Any]
    state: str
    started_at: datetime
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    checkpoint: dict[str, Any] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    days: list[str] = field(default_factory=list)
    stats_done: list[str] = field(default_factory=list)
    error: str = ""
    resumed: int = 0

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Run:
        return cls(
            run_id=document["_id"],
            source=document["source"],
            source_ref=document["source_ref"],
            options=document.get("options", {}),
            state=document["state"],
            started_at=_aware(document["started_at"]) or document["started_at"],
            finished_at=_aware(document.get("finished_at")),
            heartbeat_at=_aware(document.get("heartbeat_at")),
            checkpoint=document.get("checkpoint"),
            counts=document.get("counts", {}),
            batches=int(document.get("batches", 0)),
            days=list(document.get("days", [])),
            stats_done=list(document.get("stats_done", [])),
            error=document.get("error", ""),
            resumed=int(document.get("resumed", 0)),
        )

    @property
    def day_dates(self) -> list[date]:
        return sorted(date.fromisoformat(day) for day in self.days)

    @property
    def stats_pending(self) -> list[date]:
        """Touched days whose statistics were not recomputed since the run last wrote to them."""
        return sorted(date.fromisoformat(day) for day in set(self.days) - set(self.stats_done))


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _holder() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _process_is_gone(holder: dict[str, Any]) -> bool:
    """True when the lock holder ran on this host and its process no longer exists."""
    if holder.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(holder["pid"]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _is_stale(holder: dict[str, Any]) -> bool:
    beat = _aware(holder.get("heartbeat_at"))
    return _process_is_gone(holder) or beat is None or timezone.now() - beat > LOCK_STALE_AFTER


def lock_holder(source_ref: str) -> dict[str, Any] | None:
    """The live holder of a source's lock, or None when free (or held by a dead process)."""
    holder = collection(LOCKS).find_one({"_id": source_ref})
    if holder is None or _is_stale(holder):
        return None
    return holder


@dataclass(frozen=True)
class Lock:
    """This process's hold on one source; ``beat()`` after every batch keeps it fresh."""

    source_ref: str
    token: str

    def beat(self, *, run_id: str | None = None) -> None:
        change: dict[str, Any] = {"heartbeat_at": store.now()}
        if run_id is not None:
            change["run_id"] = run_id
        collection(LOCKS).update_one({"_id": self.source_ref, "token": self.token}, {"$set": change})

    def release(self) -> None:
        collection(LOCKS).delete_one({"_id": self.source_ref, "token": self.token})


def acquire_lock(source_ref: str) -> Lock:
    """Take the source's lock, or raise SourceBusy naming the run that holds it."""
    locks = collection(LOCKS)
    token = uuid.uuid4().hex
    moment = store.now()
    mine = {
        "_id": source_ref,
        "token": token,
        "run_id": None,
        "acquired_at": moment,
        "heartbeat_at": moment,
        **_holder(),
    }
    holder: dict[str, Any] | None = None
    for _attempt in range(3):
        try:
            locks.insert_one(mine)
            return Lock(source_ref=source_ref, token=token)
        except DuplicateKeyError:
            holder = locks.find_one({"_id": source_ref})
        if holder is None:
            continue
        if not _is_stale(holder):
            break
        taken_over = locks.find_one_and_replace({"_id": source_ref, "token": holder.get("token")}, mine)
        if taken_over is not None:
            return Lock(source_ref=source_ref, token=token)
    raise SourceBusy(_busy_message(holder or {}))


def _busy_message(holder: dict[str, Any]) -> str:
    beat = _aware(holder.get("heartbeat_at"))
    seen = f", last seen {int((timezone.now() - beat).total_seconds())} s ago" if beat else ""
    return (
        f"Another migrate_chats run is importing this source: run {holder.get('run_id') or '(starting)'} "
        f"(pid {holder.get('pid')} on {holder.get('host')}{seen}). Wait for it to finish or stop it first."
    )


def new_run_id(source: str) -> str:
    return f"{timezone.now():%Y%m%d-%H%M%S}-{source}-{uuid.uuid4().hex[:6]}"


def start_or_resume(*, source: str, source_ref: str, options: dict[str, Any], restart: bool = False) -> Run:
    """The interrupted run of this source continued, else a new one; the caller holds the lock.

    With ``restart`` an interrupted run is left as it is and a new run starts from the beginning
    (what the old one wrote is then "already present").
    """
    previous = runs_collection().find_one({"source_ref": source_ref}, sort=[("started_at", DESCENDING)])
    moment = store.now()
    if previous is not None and previous["state"] in RESUMABLE and not restart:
        if previous.get("options", {}) != options:
            raise OptionsChanged(
                f"run {previous['_id']} of this source was started with {previous.get('options')}; "
                f"resume it with the same options, or pass --restart to start a new run."
            )
        runs_collection().update_one(
            {"_id": previous["_id"]},
            {
                "$set": {"state": State.RUNNING, "heartbeat_at": moment, "error": "", **_holder()},
                "$inc": {"resumed": 1},
            },
        )
        document = runs_collection().find_one({"_id": previous["_id"]})
        if document is None:
            raise RuntimeError("the resumed run vanished from migration_runs")
        return Run.from_document(document)
    if previous is not None and previous["state"] in RESUMABLE:
        runs_collection().update_one({"_id": previous["_id"]}, {"$set": {"state": State.INTERRUPTED}})
    document = {
        "_id": new_run_id(source),
        "source": source,
        "source_ref": source_ref,
        "options": options,
        "state": State.RUNNING,
        "started_at": moment,
        "finished_at": None,
        "heartbeat_at": moment,
        "checkpoint": None,
        "counts": {},
        "batches": 0,
        "days": [],
        "stats_done": [],
        "error": "",
        "resumed": 0,
        **_holder(),
    }
    runs_collection().insert_one(document)
    return Run.from_document(document)


def save_checkpoint(
    run: Run, *, checkpoint: dict[str, Any], counts: dict[str, int], days: Iterable[date]
) -> None:
    """Commit a batch: where to continue, the counts so far and the days it touched."""
    moment = store.now()
    run.batches += 1
    run.checkpoint = checkpoint
    run.counts = counts
    touched = sorted({day.isoformat() for day in days})
    new_days = sorted(set(touched) - set(run.days))
    run.days.extend(new_days)
    run.stats_done = [day for day in run.stats_done if day not in touched]
    runs_collection().update_one(
        {"_id": run.run_id},
        {
            "$set": {
                "checkpoint": checkpoint,
                "counts": counts,
                "batches": run.batches,
                "heartbeat_at": moment,
            },
            "$addToSet": {"days": {"$each": new_days}},
            "$pull": {"stats_done": {"$in": touched}},
        },
    )


def statistics_done(run: Run, day: date) -> None:
    """One touched day's statistics are right (a resumed run does not recompute it again)."""
    run.stats_done.append(day.isoformat())
    runs_collection().update_one({"_id": run.run_id}, {"$addToSet": {"stats_done": day.isoformat()}})


def finish(run: Run, *, state: str, error: str = "") -> None:
    run.state = state
    run.finished_at = store.now() if state in (State.FINISHED, State.ROLLED_BACK, State.CANCELLED) else None
    runs_collection().update_one(
        {"_id": run.run_id},
        {"$set": {"state": state, "finished_at": run.finished_at, "error": error[:500]}},
    )


def get_run(run_id: str) -> Run:
    document = runs_collection().find_one({"_id": run_id})
    if document is None:
        raise RunNotFound(f"No migration run {run_id!r}; see --status for the runs.")
    return Run.from_document(document)


def list_runs(*, source_ref: str | None = None) -> list[Run]:
    """Every run, newest first; a "running" run whose lock holder is gone shows as interrupted."""
    query = {"source_ref": source_ref} if source_ref else {}
    found = [Run.from_document(d) for d in runs_collection().find(query).sort("started_at", DESCENDING)]
    for run in found:
        if run.state == State.RUNNING:
            holder = lock_holder(run.source_ref)
            if holder is None or holder.get("run_id") != run.run_id:
                run.state = State.INTERRUPTED
    return found


def record_batch_keys(
    *, run_id: str, batch_no: int, sessions: list[tuple[int, str]], messages: list[tuple[int, str]]
) -> None:
    """Write ahead the keys a batch is about to write (a replayed batch overwrites its own entry)."""
    collection(ITEMS).replace_one(
        {"_id": f"{run_id}:{batch_no}"},
        {
            "_id": f"{run_id}:{batch_no}",
            "run_id": run_id,
            "batch": batch_no,
            "sessions": _grouped(sessions),
            "messages": _grouped(messages),
        },
        upsert=True,
    )


def _grouped(pairs: list[tuple[int, str]]) -> list[list[Any]]:
    by_user: dict[int, list[str]] = {}
    for user_id, public_id in pairs:
        by_user.setdefault(user_id, []).append(public_id)
    return [[user_id, ids] for user_id, ids in by_user.items()]


def batch_keys(run_id: str) -> Iterator[dict[str, Any]]:
    yield from collection(ITEMS).find({"run_id": run_id}).sort("batch", 1)


def forget_batch_keys(run_id: str) -> None:
    collection(ITEMS).delete_many({"run_id": run_id})
