"""Import legacy chat history into the chat store: resumable, idempotent, verifiable."""

from __future__ import annotations

import argparse
import contextlib
from collections import Counter
from typing import IO, Any

import pymongo
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import DatabaseError
from pymongo.errors import PyMongoError
from tqdm.contrib.logging import logging_redirect_tqdm

from chats import store
from chats.exceptions import ChatError
from chats.importers import progress, rollback, runner, runs, verify
from chats.importers.sources import SOURCES, Source, open_source

STATUS_TIMEOUT_SECONDS = 60
EXIT_MISMATCH = 1
EXIT_QUARANTINED = 2
EXIT_STORE_UNAVAILABLE = 3


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 day``, ``2 days``, ``1 entry``, ``0 entries``."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def preflight_seconds() -> float:
    """How long the chat store may take to answer a ping before the command gives up."""
    return max(settings.MONGODB_TIMEOUT_MS / 1000, 1.0) * 2.5


def _positive_int(text: str) -> int:
    """argparse type: a clear usage error for 0, negatives and non-numbers (a batch of 0 never ends)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class _Unended:
    """The command's stderr without the newline Django adds to each write (tqdm redraws one line)."""

    def __init__(self, wrapper: OutputWrapper) -> None:
        self.wrapper = wrapper
        self.raw: IO[str] = wrapper._out  # type: ignore[assignment]

    def write(self, text: str) -> None:
        # Straight to the stream: Django would paint stderr in its error colour.
        self.raw.write(text)

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()


class Command(BaseCommand):
    help = (
        "Migrate legacy chat history (MySQL chat_history or session tables, the WhatsApp SQLite "
        "database, JSON conversation files, ChatGPT/Claude/Open WebUI/LibreChat exports, Medibot's own "
        "exports and backups) into MongoDB. Re-running is safe: "
        "nothing is inserted twice, and a killed run resumes from its last checkpoint."
    )
    # Like Django's own ``migrate``: a data command, not a place for URL and admin checks.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=SOURCES, help="what to import")
        parser.add_argument(
            "--source-url", help="mysql://user:pass@host:port/db (default: the default database)"
        )
        parser.add_argument("--path", help="the SQLite file, JSON directory, or the export file/zip/dir")
        parser.add_argument(
            "--user",
            dest="username",
            help="chatgpt, claude, openwebui, librechat, medibot: the account that receives the export",
        )
        parser.add_argument("--user-map", help="CSV of legacy_user_id,username-or-id for string user ids")
        parser.add_argument(
            "--gap-minutes", type=_positive_int, default=30, help="silence that starts a new session"
        )
        parser.add_argument("--source-timezone", default="UTC", help="zone of naive legacy timestamps")
        parser.add_argument("--batch-size", type=_positive_int, default=1000, help="legacy rows per batch")
        parser.add_argument("--dry-run", action="store_true", help="write nothing, say what would happen")
        parser.add_argument(
            "--verify", action="store_true", help="compare source and chat store, write nothing"
        )
        parser.add_argument(
            "--allow-quarantine", action="store_true", help="exit 0 even if rows were quarantined"
        )
        parser.add_argument("--restart", action="store_true", help="start over instead of resuming")
        parser.add_argument("--status", action="store_true", help="list the migration runs")
        parser.add_argument("--rollback", metavar="RUN_ID", help="delete what that run inserted")
        parser.add_argument("--progress-interval", type=float, default=10.0, help="seconds between lines")

    def handle(self, *args: Any, **options: Any) -> None:
        if not (options["status"] or options["rollback"] or options["source"]):
            raise CommandError("give --source (or --status, or --rollback RUN_ID)")
        try:
            self._check_store()
            if options["status"]:
                self._status()
            elif options["rollback"]:
                self._rollback(options["rollback"])
            else:
                self._source_command(options)
        except ChatError as exc:
            raise CommandError(exc.message) from exc
        except PyMongoError as exc:
            raise CommandError(
                f"chat store unavailable ({exc.__class__.__name__}); nothing more was done, "
                "re-run when `manage.py chats_doctor` passes",
                returncode=EXIT_STORE_UNAVAILABLE,
            ) from exc
        except DatabaseError as exc:
            raise CommandError(
                f"relational database unavailable ({exc.__class__.__name__}); re-run when it answers",
                returncode=EXIT_STORE_UNAVAILABLE,
            ) from exc

    def _check_store(self) -> None:
        """A stopped or frozen chat store fails here within seconds, not after a job's long deadline."""
        seconds = preflight_seconds()
        try:
            with pymongo.timeout(seconds):
                store.database().command("ping")
        except PyMongoError as exc:
            raise CommandError(
                f"chat store unavailable: no answer within {seconds:.0f} s ({exc.__class__.__name__}); "
                "nothing was done",
                returncode=EXIT_STORE_UNAVAILABLE,
            ) from exc

    def _open(self, options: dict[str, Any]) -> Source:
        try:
            return open_source(
                options["source"],
                source_url=options["source_url"],
                path=options["path"],
                username=options["username"],
                user_map=options["user_map"],
                gap_minutes=options["gap_minutes"],
                legacy_timezone=options["source_timezone"],
                create_users=not (options["dry_run"] or options["verify"]),
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc

    def _source_command(self, options: dict[str, Any]) -> None:
        verbosity = int(options["verbosity"])
        source = self._open(options)
        try:
            for warning in source.warnings():
                self.stderr.write(f"warning: {warning}")
            if options["verify"]:
                self._verify(source, options["batch_size"], verbosity)
                return
            bar = progress.for_terminal(
                _Unended(self.stderr),
                verbosity=verbosity,
                label=f"migrate_chats {source.kind}",
                interval=options["progress_interval"],
            )
            # Log lines go through tqdm while its bar is drawn, so they never tear it.
            redirect = logging_redirect_tqdm() if isinstance(bar, progress.Bar) else contextlib.nullcontext()
            with redirect:
                report = runner.migrate(
                    source=source,
                    batch_size=options["batch_size"],
                    dry_run=options["dry_run"],
                    restart=options["restart"],
                    progress=bar,
                )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            source.close()
        if verbosity >= 1:
            self._summary(report)
        if report.counts.quarantined and not options["allow_quarantine"]:
            rows = plural(report.counts.quarantined, "legacy row")
            if report.dry_run:
                message = f"{rows} would be quarantined (reasons above); fix them or pass --allow-quarantine."
            else:
                message = (
                    f"{rows} {'was' if report.counts.quarantined == 1 else 'were'} quarantined (see the "
                    "migration_quarantine collection); fix them or pass --allow-quarantine."
                )
            raise CommandError(message, returncode=EXIT_QUARANTINED)

    def _summary(self, report: runner.MigrationReport) -> None:
        counts = report.counts
        if report.dry_run:
            self.stdout.write(
                f"dry run, nothing written: would read {plural(counts.read, 'row')} = insert "
                f"{counts.inserted} + already present {counts.already_present} + quarantine "
                f"{counts.quarantined}; would create {plural(report.users_created, 'account')}"
            )
            self._would_quarantine(report)
            return
        resumed = " (resumed)" if report.resumed else ""
        self.stdout.write(
            f"run {report.run_id}{resumed} finished in {report.seconds:.1f} s: read "
            f"{plural(counts.read, 'row')} = inserted {counts.inserted} + already present "
            f"{counts.already_present} + quarantined {counts.quarantined}"
        )
        self.stdout.write(
            f"  sessions created {counts.sessions_inserted}, messages created {counts.messages_inserted}, "
            f"accounts created {report.users_created}, "
            f"daily statistics recomputed for {plural(report.stats_days, 'day')}"
        )

    def _would_quarantine(self, report: runner.MigrationReport) -> None:
        """The reasons a real run would record in migration_quarantine, row by row, then by reason."""
        listed = report.would_quarantine
        if not listed:
            return
        self.stdout.write(f"would quarantine {plural(report.counts.quarantined, 'row')}:")
        for unit, reason in listed:
            self.stdout.write(f"  {unit}: {reason}")
        if report.counts.quarantined > len(listed):
            self.stdout.write(f"  ... and {report.counts.quarantined - len(listed)} more")
        by_reason = Counter(reason for _unit, reason in listed)
        self.stdout.write(
            "  by reason: " + ", ".join(f"{reason} {count}" for reason, count in by_reason.most_common())
        )

    def _verify(self, source: Source, batch_size: int, verbosity: int) -> None:
        report = verify.verify(
            source=source,
            batch_size=batch_size,
            on_mismatch=lambda found: self.stdout.write(f"MISMATCH {found}"),
        )
        if verbosity >= 1:
            self.stdout.write(
                f"verified {plural(report.conversations, 'conversation')} "
                f"({plural(report.messages, 'message')}, {plural(report.quarantined, 'quarantined row')} "
                f"not expected): {plural(len(report.mismatches), 'mismatch', 'mismatches')}"
            )
        if not report.ok:
            raise CommandError(
                f"{len(report.mismatches)} conversations differ between the source and the chat store",
                returncode=EXIT_MISMATCH,
            )

    def _status(self) -> None:
        with pymongo.timeout(STATUS_TIMEOUT_SECONDS):
            found = runs.list_runs()
        if not found:
            self.stdout.write("no migration runs")
            return
        self.stdout.write(
            f"{'RUN ID':<40} {'SOURCE':<15} {'STATE':<12} {'STARTED':<20} {'FINISHED':<20} "
            f"{'READ':>9} {'INSERTED':>9} {'PRESENT':>9} {'QUARANT.':>9}"
        )
        for run in found:
            counts = run.counts
            finished = f"{run.finished_at:%Y-%m-%d %H:%M:%S}" if run.finished_at else "-"
            self.stdout.write(
                f"{run.run_id:<40} {run.source:<15} {run.state:<12} {run.started_at:%Y-%m-%d %H:%M:%S}  "
                f"{finished:<20} {counts.get('read', 0):>9} {counts.get('inserted', 0):>9} "
                f"{counts.get('already_present', 0):>9} {counts.get('quarantined', 0):>9}"
            )
            self.stdout.write(f"{'':<40} {run.source_ref}")

    def _rollback(self, run_id: str) -> None:
        report = rollback.rollback_run(run_id=run_id)
        self.stdout.write(
            f"rolled back run {report.run_id}: deleted {plural(report.messages_deleted, 'message')} and "
            f"{plural(report.sessions_deleted, 'session')}; kept {plural(report.sessions_kept, 'session')} "
            f"that hold messages written since; removed "
            f"{plural(report.quarantine_deleted, 'quarantine entry', 'quarantine entries')}"
        )
