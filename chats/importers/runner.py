"""A migration run: source batches through the writer, a checkpoint after each, statistics at the end.

``migrate()`` holds the source's lock for the whole run. A run that dies (SIGKILL, a crash, an
outage) leaves its last checkpoint; the next ``migrate()`` of the same source resumes it. Nothing
is ever read twice into memory: each batch is at most ``batch_size`` legacy rows.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pymongo
from django.db import connections

from chats import services
from chats.importers import runs
from chats.importers.progress import Metered, Progress, Silent
from chats.importers.records import Batch
from chats.importers.sources import Source
from chats.importers.writer import Counts, Writer, prepare

logger = logging.getLogger(__name__)

# A background job: each batch (and each bookkeeping write) gets a generous deadline instead of
# the request path's short MONGODB_TIMEOUT_MS.
BATCH_TIMEOUT_SECONDS = 600
BOOKKEEPING_TIMEOUT_SECONDS = 60
QUARANTINE_LISTED = 1000  # a dry run lists this many quarantine reasons row by row
STATISTICS_TIMEOUT_SECONDS = 3600  # one day's totals scan its window of every user's messages


@dataclass
class MigrationReport:
    source_ref: str
    dry_run: bool
    counts: Counts
    run_id: str | None = None
    resumed: bool = False
    users_created: int = 0
    stats_days: int = 0
    seconds: float = 0.0
    # A dry run's quarantine reasons: (legacy unit, reason), the first QUARANTINE_LISTED of them.
    would_quarantine: list[tuple[str, str]] = field(default_factory=list)
    # A run's quarantine reasons in this process (not those of the run's earlier attempts).
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False  # ``stop()`` said so at a batch boundary

    @property
    def balanced(self) -> bool:
        counts = self.counts
        return counts.read == counts.inserted + counts.already_present + counts.quarantined


def migrate(
    *,
    source: Source,
    batch_size: int = 1000,
    dry_run: bool = False,
    restart: bool = False,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> MigrationReport:
    """Import ``source`` (resuming its interrupted run), or with ``dry_run`` only count what would happen.

    ``stop`` is asked after every committed batch; when it says yes the run ends there as
    ``cancelled`` (not resumable) with the counts of what it wrote.
    """
    if batch_size < 1:
        raise ValueError("--batch-size must be at least 1")
    progress = Metered(progress or Silent(), source=source.kind)
    started = time.monotonic()
    if dry_run:
        report = _pretend(source, batch_size, progress)
    else:
        report = _run(source, batch_size, restart, progress, stop)
    report.seconds = time.monotonic() - started
    return report


def _pretend(source: Source, batch_size: int, progress: Progress) -> MigrationReport:
    report = MigrationReport(source_ref=source.ref, dry_run=True, counts=Counts())
    writer = Writer(run_id=None, source_ref=source.ref, dry_run=True)
    progress.start(total=source.estimate(), done=0)
    try:
        for number, batch in enumerate(read_ahead(source.batches(None, batch_size=batch_size)), start=1):
            with pymongo.timeout(BATCH_TIMEOUT_SECONDS):
                outcome = writer.write(batch, batch_no=number)
            report.counts.add(outcome.counts)
            room = QUARANTINE_LISTED - len(report.would_quarantine)
            report.would_quarantine.extend(outcome.quarantined[: max(room, 0)])
            report.users_created += batch.users_created
            progress.update(report.counts)
    finally:
        progress.close()
    return report


def _run(
    source: Source, batch_size: int, restart: bool, progress: Progress, stop: Callable[[], bool] | None
) -> MigrationReport:
    with pymongo.timeout(BOOKKEEPING_TIMEOUT_SECONDS):
        lock = runs.acquire_lock(source.ref)
    try:
        with pymongo.timeout(BOOKKEEPING_TIMEOUT_SECONDS):
            run = runs.start_or_resume(
                source=source.kind, source_ref=source.ref, options=source.options, restart=restart
            )
            lock.beat(run_id=run.run_id)
        report = MigrationReport(
            source_ref=source.ref,
            dry_run=False,
            counts=Counts.from_dict(run.counts),
            run_id=run.run_id,
            resumed=run.checkpoint is not None,
            users_created=int(run.counts.get("users_created", 0)),
        )
        logger.info(
            "chat migration started",
            extra={"run_id": run.run_id, "source": source.kind, "resumed": report.resumed},
        )
        try:
            _import_batches(source, run, lock, report, batch_size, progress, stop)
            report.stats_days = _recompute_statistics(run, lock)
        except KeyboardInterrupt:
            _finish(run, state=runs.State.INTERRUPTED, error="interrupted")
            raise
        except BaseException as exc:
            _finish(run, state=runs.State.FAILED, error=f"{exc.__class__.__name__}: {exc}")
            raise
        if report.cancelled:
            _finish(run, state=runs.State.CANCELLED, error="cancelled")
            logger.info("chat migration cancelled", extra={"run_id": run.run_id, **report.counts.as_dict()})
            return report
        _finish(run, state=runs.State.FINISHED)
        logger.info("chat migration finished", extra={"run_id": run.run_id, **report.counts.as_dict()})
        return report
    finally:
        with pymongo.timeout(BOOKKEEPING_TIMEOUT_SECONDS):
            lock.release()


def _finish(run: runs.Run, *, state: str, error: str = "") -> None:
    with pymongo.timeout(BOOKKEEPING_TIMEOUT_SECONDS):
        runs.finish(run, state=state, error=error)


def _import_batches(
    source: Source,
    run: runs.Run,
    lock: runs.Lock,
    report: MigrationReport,
    batch_size: int,
    progress: Progress,
    stop: Callable[[], bool] | None = None,
) -> None:
    writer = Writer(run_id=run.run_id, source_ref=source.ref)
    progress.start(total=source.estimate(), done=report.counts.read)
    try:
        for batch in read_ahead(source.batches(run.checkpoint, batch_size=batch_size)):
            with pymongo.timeout(BATCH_TIMEOUT_SECONDS):
                outcome = writer.write(batch, batch_no=run.batches + 1)
                report.counts.add(outcome.counts)
                report.users_created += batch.users_created
                runs.save_checkpoint(
                    run,
                    checkpoint=batch.checkpoint,
                    counts={**report.counts.as_dict(), "users_created": report.users_created},
                    days=outcome.days,
                )
                lock.beat()
            room = QUARANTINE_LISTED - len(report.quarantined)
            report.quarantined.extend(outcome.quarantined[: max(room, 0)])
            progress.update(report.counts)
            if stop is not None and stop():
                report.cancelled = True
                return
    finally:
        progress.close()


def _recompute_statistics(run: runs.Run, lock: runs.Lock) -> int:
    """Daily statistics of every day the run added sessions or messages to (each day once, even
    across a resume)."""
    for day in run.stats_pending:
        with pymongo.timeout(STATISTICS_TIMEOUT_SECONDS):
            services.compute_daily_stats(day=day)
            runs.statistics_done(run, day)
            lock.beat()
    return len(run.days)


_END = object()


def read_ahead(batches: Iterator[Batch]) -> Iterator[Batch]:
    """The source's batches, the next one read and prepared in a thread while this one is written.

    At most two batches are in memory at once (the one being written and the next one).
    """
    handoff: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(prepare(batch)):
                    return
            put(_END)
        except BaseException as exc:
            put(exc)
        finally:
            connections.close_all()  # this thread's own connections (account lookups)

    reader = threading.Thread(target=produce, name="migrate-chats-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = handoff.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            if not isinstance(item, Batch):
                raise TypeError(f"unexpected item from the reader thread: {type(item).__name__}")
            yield item
    finally:
        stop.set()
        reader.join(timeout=60)
