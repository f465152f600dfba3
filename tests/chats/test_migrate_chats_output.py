"""What ``migrate_chats`` prints: totals and ETA for every source, plain colour, plural-aware
wording, a dry run's quarantine reasons, and one clear line against a stuck chat store."""

from __future__ import annotations

import io
import re
import signal
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.chats.importer_support import FIXTURES, migrate_chats
from tests.chats.test_migrate_chats import hybrid_store
from tests.factories import make_user
from tests.support.processes import MongoServer, child_env, manage

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def user_map(tmp_path: Path) -> Path:
    make_user(username="alice-json")
    path = tmp_path / "users.csv"
    path.write_text("legacy-alice,alice-json\n")
    return path


def test_a_json_import_shows_its_total_and_an_eta_on_the_bar(tmp_path: Path) -> None:
    terminal = Terminal()
    args = ["--source", "json", "--path", str(hybrid_store(tmp_path)), "--user-map", str(user_map(tmp_path))]

    call_command("migrate_chats", *args, "--allow-quarantine", stderr=terminal, stdout=io.StringIO())

    assert "7/7" in terminal.getvalue()
    assert re.search(r"<\d\d:\d\d", terminal.getvalue())  # tqdm's remaining time
    assert "\x1b[" not in terminal.getvalue()  # not painted in Django's error colour


def test_a_chatgpt_import_shows_its_total_on_plain_lines(tmp_path: Path) -> None:
    make_user(username="alice-gpt")
    plain = io.StringIO()
    export = FIXTURES / "chatgpt_conversations.json"
    args = ["--source", "chatgpt", "--path", str(export), "--user", "alice-gpt"]

    call_command("migrate_chats", *args, "--progress-interval", "0", stderr=plain, stdout=io.StringIO())

    last = plain.getvalue().splitlines()[-1]
    done = re.search(r": (\d+)/(\d+) \(100%\) rows", last)
    assert done is not None, last
    assert done[1] == done[2]


def test_a_dry_run_prints_the_reasons_it_would_quarantine(tmp_path: Path) -> None:
    users = user_map(tmp_path)
    source = ["--source", "json", "--path", str(hybrid_store(tmp_path)), "--user-map", str(users)]

    result = migrate_chats(*source, "--dry-run")

    assert result.code == 2
    assert "would quarantine 3 rows:" in result.out
    assert "  file:broken.json: unparseable JSON" in result.out
    assert "  a0000000-0000-4000-8000-000000000002.json#1: unknown role" in result.out
    assert "3 legacy rows would be quarantined (reasons above)" in result.err
    assert "migration_quarantine collection" not in result.err


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    directory = tmp_path / "one"
    directory.mkdir()
    (directory / "broken.json").write_text("{not json")

    result = migrate_chats("--source", "json", "--path", str(directory), "--dry-run")

    assert "would read 1 row =" in result.out
    assert "would create 0 accounts" in result.out
    assert "would quarantine 1 row:" in result.out
    assert "1 legacy row would be quarantined" in result.err


@pytest.mark.parametrize("command", [["--status"], ["--rollback", "no-such-run"]])
def test_a_frozen_chat_store_ends_the_command_quickly_with_one_clear_line(
    tmp_path: Path, command: list[str]
) -> None:
    mongo = MongoServer(tmp_path / "mongo")
    mongo.start()
    try:
        mongo.signal(signal.SIGSTOP)
        started = time.monotonic()
        env = child_env(MONGODB_URI=mongo.uri, MONGODB_TIMEOUT_MS="2000")
        result = manage("migrate_chats", *command, env=env, timeout=60)
        elapsed = time.monotonic() - started
    finally:
        mongo.stop()
    assert result.returncode == 3, result.stderr
    assert elapsed < 30
    assert "Traceback" not in result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("CommandError: chat store unavailable: no answer within 5 s"), result.stderr
