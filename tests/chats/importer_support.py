"""What the ``migrate_chats`` tests share: the legacy fixtures folder, running the command as the
shell would, and emptying the migration's own collections before each test."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

from chats import store
from chats.importers import runs

FIXTURES = Path(__file__).parent / "importer_fixtures"


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def migrate_chats(*args: str) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("migrate_chats", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return Outcome(exc.returncode, out.getvalue(), err.getvalue() + str(exc))
    return Outcome(0, out.getvalue(), err.getvalue())


def empty_migration_collections() -> None:
    """The run, lock and quarantine collections have no Django model, so no flush empties them."""
    database = store.database()
    for name in (runs.RUNS, runs.LOCKS, runs.ITEMS, runs.QUARANTINE):
        database[name].delete_many({})
