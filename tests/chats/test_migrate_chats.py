"""``manage.py migrate_chats``: legacy chat history into MongoDB — never lost, never duplicated.

Legacy data lives where it would in a deployment: a real MariaDB database (the ``default`` one or
a separate one given by ``--source-url``), a real SQLite file, real JSON files and ChatGPT exports.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import MySQLdb
import pytest
from bson import Int64
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from accounts.models import User
from chats import builders, selectors, store
from chats.importers import runs
from chats.importers.mysql_connection import MySQLSource
from chats.models import ChatMessage, ChatSession, DailyChatStats
from tests.chats.importer_support import FIXTURES, migrate_chats
from tests.factories import make_staff, make_user
from tests.support.processes import Background, child_env, poll

pytestmark = [
    pytest.mark.django_db(databases=["default", "chats"], transaction=True),
    pytest.mark.usefixtures("fresh_migration_collections"),
]

T0 = datetime(2024, 3, 1, 9, 0, 0, tzinfo=UTC)
CHAT_HISTORY = """
    CREATE TABLE chat_history (
        id INT PRIMARY KEY AUTO_INCREMENT,
        user_id INT,
        message TEXT,
        response TEXT,
        `timestamp` DATETIME,
        INDEX idx_user_timestamp (user_id, `timestamp`)
    ) CHARACTER SET utf8mb4
"""


# --- fixtures ------------------------------------------------------------------------------------------


@dataclass
class LegacyMySQL:
    """A legacy database on the test MariaDB server."""

    name: str
    url: str
    connection: Any

    def execute(self, sql: str, parameters: tuple[Any, ...] = ()) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, parameters)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    @property
    def chat_history_ref(self) -> str:
        """The source ref (run and lock key) of this database's ``chat_history``."""
        return f"{MySQLSource.from_url(self.url).ref}/chat_history"

    def chat_history(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (user_id, message, response, timestamp)."""
        self.executemany(
            "INSERT INTO chat_history (user_id, message, response, `timestamp`) VALUES (%s, %s, %s, %s)", rows
        )


def _server() -> dict[str, Any]:
    config = connections["default"].settings_dict
    if config["ENGINE"] != "django.db.backends.mysql":
        pytest.skip("the MySQL sources need MariaDB/MySQL (CI=true)")
    return config


@pytest.fixture
def legacy_mysql() -> Iterator[LegacyMySQL]:
    config = _server()
    name = f"legacy_medibot{os.environ.get('MEDIBOT_TEST_DB_SUFFIX', '')}"
    admin = MySQLdb.connect(
        host=config["HOST"], port=int(config["PORT"]), user=config["USER"], password=config["PASSWORD"]
    )
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    connection = MySQLdb.connect(
        host=config["HOST"],
        port=int(config["PORT"]),
        user=config["USER"],
        password=config["PASSWORD"],
        database=name,
        charset="utf8mb4",
        autocommit=True,
    )
    password = f":{config['PASSWORD']}" if config["PASSWORD"] else ""
    legacy = LegacyMySQL(
        name=name,
        url=f"mysql://{config['USER']}{password}@{config['HOST']}:{config['PORT']}/{name}",
        connection=connection,
    )
    legacy.execute(CHAT_HISTORY)
    yield legacy
    connection.close()
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
    admin.close()


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def sessions_of(user: User) -> list[ChatSession]:
    return sorted(ChatSession.objects.filter(user_id=user.pk), key=lambda s: s.created_at)


def conversation(session: ChatSession) -> list[tuple[int, str, str, datetime]]:
    return [
        (m.order, m.role, m.content, m.created_at) for m in selectors.iter_session_messages(session=session)
    ]


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every chat document, for "changes nothing" comparisons."""
    database = store.database()
    return {
        name: sorted(database[name].find({}), key=lambda d: str(d["_id"]))
        for name in ("chat_sessions", "chat_messages", "chat_daily_stats")
    }


# --- mysql: chat_history -------------------------------------------------------------------------------


def test_chat_history_rows_become_sessions_split_at_the_time_gap(legacy_mysql: LegacyMySQL) -> None:
    alice, bob = make_user(), make_user()
    legacy_mysql.chat_history(
        [
            (alice.pk, "What is a normal blood pressure?", "Around 120/80 mmHg.", naive(at(0))),
            (alice.pk, "And for children?", "It depends on age and height.", naive(at(10))),
            (alice.pk, "Thanks", None, naive(at(25))),
            (alice.pk, "Is ibuprofen safe with aspirin?", "", naive(at(120))),
            (bob.pk, "I have a headache", "Drink water and rest.", naive(at(5))),
        ]
    )

    result = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)

    assert result.code == 0, result.err
    first, second = sessions_of(alice)
    assert conversation(first) == [
        (1, "user", "What is a normal blood pressure?", at(0)),
        (2, "assistant", "Around 120/80 mmHg.", at(0)),
        (3, "user", "And for children?", at(10)),
        (4, "assistant", "It depends on age and height.", at(10)),
        (5, "user", "Thanks", at(25)),
    ]
    assert conversation(second) == [(1, "user", "Is ibuprofen safe with aspirin?", at(120))]
    assert (first.title, first.message_count, first.last_message_at, first.channel) == (
        "What is a normal blood pressure?",
        5,
        at(25),
        "import",
    )
    assert (second.title, second.message_count, second.last_message_at) == (
        "Is ibuprofen safe with aspirin?",
        1,
        at(120),
    )
    assert [s.message_count for s in sessions_of(bob)] == [2]
    assert "read 5 rows = inserted 5 + already present 0 + quarantined 0" in result.out


def test_rerun_inserts_nothing_and_changes_nothing(legacy_mysql: LegacyMySQL) -> None:
    alice = make_user()
    legacy_mysql.chat_history(
        [(alice.pk, f"question {n}", f"answer {n}", naive(at(n * 20))) for n in range(7)]
    )
    first = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--batch-size", "3")
    before = snapshot()

    second = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--batch-size", "3")

    assert first.code == second.code == 0
    assert "read 7 rows = inserted 7 + already present 0 + quarantined 0" in first.out
    assert "sessions created 1, messages created 14" in first.out
    assert "read 7 rows = inserted 0 + already present 7 + quarantined 0" in second.out
    assert "sessions created 0, messages created 0" in second.out
    assert snapshot() == before


def test_imported_documents_have_exactly_the_shape_the_orm_stores(legacy_mysql: LegacyMySQL) -> None:
    import bson

    alice = make_user()
    legacy_mysql.chat_history(
        [(alice.pk, "Fever of 39 °C since yesterday", "Rest and fluids.", naive(at(0)))]
    )
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    stored_session = store.collection(ChatSession).find_one({"user_id": Int64(alice.pk)})
    stored_message = store.collection(ChatMessage).find_one({"user_id": Int64(alice.pk), "order": 1})
    assert stored_session is not None
    assert stored_message is not None

    session = ChatSession.objects.get(pk=stored_session["_id"])
    message = ChatMessage.objects.get(pk=stored_message["_id"])

    assert bson.encode(stored_session) == bson.encode(store.to_document(session))
    assert bson.encode(stored_message) == bson.encode(store.to_document(message))
    assert selectors.search_chats(query="fever", user_id=alice.pk).messages[0].message.pk == message.pk


def test_live_messages_continue_an_imported_session_after_its_last_order(legacy_mysql: LegacyMySQL) -> None:
    from chats import services

    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, "old question", "old answer", naive(at(0)))])
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    (session,) = sessions_of(alice)

    services.append_message(session=session, role="user", content="a new question")

    assert [order for order, *_ in conversation(session)] == [1, 2, 3]


def test_bad_rows_are_quarantined_with_key_and_reason_and_the_counts_add_up(
    legacy_mysql: LegacyMySQL,
) -> None:
    alice = make_user()
    legacy_mysql.chat_history(
        [
            (alice.pk, "good question", "good answer", naive(at(0))),
            (None, "whose is this?", "nobody knows", naive(at(1))),
            (987_654, "an unknown user", "reply", naive(at(2))),
            (alice.pk, "", "an answer to nothing", naive(at(3))),
            (alice.pk, "timeless", "reply", None),
            (alice.pk, "another good one", None, naive(at(4))),
        ]
    )
    legacy_mysql.execute("SET SESSION sql_mode = ''")
    legacy_mysql.execute(
        "INSERT INTO chat_history (id, user_id, message, `timestamp`) "
        "VALUES (100, %s, 'zero date', '0000-00-00')",
        (alice.pk,),
    )

    strict = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    tolerant = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--allow-quarantine")

    assert strict.code == 2
    assert "read 7 rows = inserted 2 + already present 0 + quarantined 5" in strict.out
    assert "5 legacy rows were quarantined" in strict.err
    assert tolerant.code == 0
    assert "read 7 rows = inserted 0 + already present 2 + quarantined 5" in tolerant.out
    reasons = {
        entry["key"]: entry["reason"]
        for entry in runs.quarantine_collection().find({}, {"key": 1, "reason": 1})
    }
    assert reasons == {
        "chat_history:2": "null user",
        "chat_history:3": "unknown user",
        "chat_history:4": "empty message",
        "chat_history:5": "unparseable timestamp",
        "chat_history:100": "unparseable timestamp",
    }
    entry = runs.quarantine_collection().find_one({"key": "chat_history:3"})
    assert entry is not None
    assert entry["row"]["message"] == "an unknown user"
    assert entry["source_ref"].endswith(f"/{legacy_mysql.name}/chat_history")


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch-size", "0", "must be at least 1"),
        ("--batch-size", "-5", "must be at least 1"),
        ("--gap-minutes", "ten", "is not a whole number"),
    ],
)
def test_nonsense_sizes_are_a_usage_error_before_anything_is_read(
    option: str, value: str, message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("migrate_chats", "--source", "mysql", option, value)

    assert not store.collection(ChatMessage).find_one({}, {"_id": 1})


def test_the_default_database_is_the_source_when_no_url_is_given() -> None:
    _server()
    alice = make_user()
    with connections["default"].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS chat_history")
        cursor.execute(CHAT_HISTORY)
        cursor.execute(
            "INSERT INTO chat_history (user_id, message, response, `timestamp`) VALUES (%s, %s, %s, %s)",
            (alice.pk, "from the default database", "yes", naive(at(0))),
        )
    try:
        result = migrate_chats("--source", "mysql")
    finally:
        with connections["default"].cursor() as cursor:
            cursor.execute("DROP TABLE chat_history")

    assert result.code == 0, result.err
    assert [content for _, _, content, _ in conversation(sessions_of(alice)[0])] == [
        "from the default database",
        "yes",
    ]


def test_sessions_counters_titles_and_daily_statistics_are_right_after_migration(
    legacy_mysql: LegacyMySQL,
) -> None:
    alice, bob = make_user(), make_user()
    day_one, day_two = datetime(2023, 1, 10, 8, tzinfo=UTC), datetime(2023, 1, 11, 23, 50, tzinfo=UTC)
    legacy_mysql.chat_history(
        [
            (
                alice.pk,
                "  Morning   headache\nwith nausea, what should I do about it today?",
                "Rest.",
                naive(day_one),
            ),
            (alice.pk, "Still there", None, naive(day_one + timedelta(minutes=5))),
            (bob.pk, "Late question", "Late answer", naive(day_two)),
            (bob.pk, "After midnight", "Still answering", naive(day_two + timedelta(minutes=20))),
        ]
    )

    assert migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url).code == 0

    (morning,) = sessions_of(alice)
    (late,) = sessions_of(bob)
    assert (morning.title, morning.message_count, morning.last_message_at) == (
        "Morning headache with nausea, what should I do about it today?",
        3,
        day_one + timedelta(minutes=5),
    )
    assert (late.message_count, late.last_message_at, late.updated_at) == (
        4,
        day_two + timedelta(minutes=20),
        day_two + timedelta(minutes=20),
    )
    stats = {row.date: row for row in DailyChatStats.objects.all()}
    assert (stats[date(2023, 1, 10)].total_messages, stats[date(2023, 1, 10)].new_sessions) == (3, 1)
    assert (stats[date(2023, 1, 11)].total_messages, stats[date(2023, 1, 11)].active_users) == (2, 1)
    assert (stats[date(2023, 1, 12)].total_messages, stats[date(2023, 1, 12)].new_sessions) == (2, 0)
    assert stats[date(2023, 1, 10)].messages_by_role == {"assistant": 1, "user": 2}


def test_dry_run_writes_nothing_and_says_what_it_would_do(legacy_mysql: LegacyMySQL) -> None:
    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, "q1", "a1", naive(at(0))), (None, "orphan", "x", naive(at(1)))])
    database = store.database()
    before = {name: database[name].count_documents({}) for name in database.list_collection_names()}

    result = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--dry-run")

    after = {name: database[name].count_documents({}) for name in database.list_collection_names()}
    assert after == before
    assert (
        "dry run, nothing written: would read 2 rows = insert 1 + already present 0 + quarantine 1"
        in result.out
    )
    assert result.code == 2


def test_checkpoint_is_written_after_every_batch_with_the_last_source_key(legacy_mysql: LegacyMySQL) -> None:
    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, f"q{n}", f"a{n}", naive(at(n))) for n in range(5)])

    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--batch-size", "2")

    (run,) = runs.list_runs()
    assert (run.batches, run.state) == (3, "finished")
    assert run.checkpoint is not None
    assert run.checkpoint["after"][0] == alice.pk
    assert run.checkpoint["after"][2] == 5
    assert run.counts["read"] == 5


# --- verify, status, rollback, lock --------------------------------------------------------------------


def test_verify_reports_every_mismatching_conversation_and_exits_1(legacy_mysql: LegacyMySQL) -> None:
    alice, bob = make_user(), make_user()
    legacy_mysql.chat_history(
        [
            (alice.pk, "first visit", "welcome", naive(at(0))),
            (alice.pk, "second visit", "welcome back", naive(at(200))),
            (bob.pk, "bob asks", "bob is answered", naive(at(0))),
        ]
    )
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    clean = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--verify")
    first, second = sessions_of(alice)
    messages = store.collection(ChatMessage)
    messages.update_one(
        {"user_id": Int64(alice.pk), "session_id": first.pk, "order": 2}, {"$set": {"content": "edited"}}
    )
    messages.delete_one({"user_id": Int64(alice.pk), "session_id": second.pk, "order": 2})

    dirty = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--verify")

    assert clean.code == 0
    assert "verified 3 conversations (6 messages" in clean.out
    assert dirty.code == 1
    mismatches = [line for line in dirty.out.splitlines() if line.startswith("MISMATCH")]
    assert len(mismatches) == 2
    assert f"session {first.session_id}" in mismatches[0]
    assert "messages differ" in mismatches[0]
    assert f"session {second.session_id}" in mismatches[1]
    assert "source has 2 messages" in mismatches[1]


def test_status_lists_runs_with_counts_and_state(legacy_mysql: LegacyMySQL) -> None:
    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, "q", "a", naive(at(0)))])
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)

    result = migrate_chats("--status")

    rows = [line.split() for line in result.out.splitlines()[1:] if "-mysql-" in line]
    assert len(rows) == 2
    assert [row[2] for row in rows] == ["finished", "finished"]
    assert [row[-4:] for row in rows] == [["1", "0", "1", "0"], ["1", "1", "0", "0"]]


def test_rollback_deletes_exactly_that_runs_documents_and_nothing_live_traffic_wrote(
    legacy_mysql: LegacyMySQL,
) -> None:
    from chats import services

    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, "old question", "old answer", naive(at(0)))])
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    (first_run,) = runs.list_runs()
    (imported,) = sessions_of(alice)
    live = services.start_session(user_id=alice.pk, title="live")
    services.append_message(session=live, role="user", content="live message")
    legacy_mysql.chat_history(
        [
            (alice.pk, "late legacy row", "late answer", naive(at(10))),
            (alice.pk, "next day", "ok", naive(at(2000))),
        ]
    )
    migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)
    second_run = next(run for run in runs.list_runs() if run.run_id != first_run.run_id)
    services.append_message(
        session=ChatSession.objects.get(pk=imported.pk), role="user", content="live reply"
    )

    result = migrate_chats("--rollback", second_run.run_id)

    assert result.code == 0, result.err
    assert "deleted 4 messages and 1 session;" in result.out
    remaining = {s.title: conversation(s) for s in sessions_of(alice)}
    assert [(o, c) for o, _, c, _ in remaining["old question"]] == [
        (1, "old question"),
        (2, "old answer"),
        (5, "live reply"),
    ]
    assert [c for _, _, c, _ in remaining["live"]] == ["live message"]
    assert ChatSession.objects.get(pk=imported.pk).message_count == 5
    assert runs.get_run(second_run.run_id).state == "rolled_back"
    assert runs.get_run(first_run.run_id).state == "finished"


def test_a_second_concurrent_run_on_the_same_source_is_refused(legacy_mysql: LegacyMySQL) -> None:
    legacy_mysql.chat_history([(make_user().pk, "q", "a", naive(at(0)))])
    lock = runs.acquire_lock(legacy_mysql.chat_history_ref)
    lock.beat(run_id="20240101-000000-mysql-abcdef")

    result = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)

    lock.release()
    assert result.code == 1
    assert (
        "Another migrate_chats run is importing this source: run 20240101-000000-mysql-abcdef" in result.err
    )
    assert f"pid {os.getpid()}" in result.err
    assert ChatMessage.objects.count() == 0


def test_a_lock_left_by_a_dead_process_is_taken_over(legacy_mysql: LegacyMySQL, tmp_path: Path) -> None:
    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, "q", "a", naive(at(0)))])
    dead = Background([sys.executable, "-c", "pass"], child_env(), tmp_path / "dead.log")
    dead.process.wait(timeout=30)
    moment = store.now()
    store.database()[runs.LOCKS].insert_one(
        {
            "_id": legacy_mysql.chat_history_ref,
            "token": "t",
            "run_id": "r",
            "host": os.uname().nodename,
            "pid": dead.process.pid,
            "acquired_at": moment,
            "heartbeat_at": moment,
        }
    )

    result = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url)

    assert result.code == 0, result.err
    assert sessions_of(alice)[0].message_count == 2


def test_an_interrupted_run_resumes_after_its_checkpoint_unless_restarted(legacy_mysql: LegacyMySQL) -> None:
    alice = make_user()
    url = ["--source", "mysql", "--source-url", legacy_mysql.url, "--batch-size", "2"]
    legacy_mysql.chat_history([(alice.pk, f"q{n}", f"a{n}", naive(at(n))) for n in range(2)])
    migrate_chats(*url)
    (interrupted,) = runs.list_runs()
    runs.runs_collection().update_one({"_id": interrupted.run_id}, {"$set": {"state": "failed"}})
    legacy_mysql.chat_history([(alice.pk, f"q{n}", f"a{n}", naive(at(n))) for n in range(2, 6)])

    other_gap = migrate_chats(*url, "--gap-minutes", "10")
    resumed = migrate_chats(*url)
    restarted = migrate_chats(*url, "--restart")

    assert other_gap.code == 1
    assert f"run {interrupted.run_id} of this source was started with" in other_gap.err
    assert f"run {interrupted.run_id} (resumed)" in resumed.out
    assert "read 6 rows = inserted 6 + already present 0" in resumed.out
    assert "read 6 rows = inserted 0 + already present 6" in restarted.out
    assert [run.state for run in runs.list_runs()] == ["finished", "finished"]
    assert sessions_of(alice)[0].message_count == 12
    assert DailyChatStats.objects.get(date=T0.date()).total_messages == 12


# --- progress ------------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def six_rows(legacy_mysql: LegacyMySQL) -> list[str]:
    alice = make_user()
    legacy_mysql.chat_history([(alice.pk, f"q{n}", f"a{n}", naive(at(n))) for n in range(6)])
    return ["--source", "mysql", "--source-url", legacy_mysql.url, "--batch-size", "2"]


def test_progress_on_a_terminal_is_a_bar_with_rows_per_second(six_rows: list[str]) -> None:
    terminal = Terminal()

    call_command("migrate_chats", *six_rows, stderr=terminal, stdout=io.StringIO())

    assert "\r" in terminal.getvalue()
    assert "rows/s" in terminal.getvalue()
    assert "6/6" in terminal.getvalue()


def test_progress_off_a_terminal_is_plain_periodic_lines(six_rows: list[str]) -> None:
    plain = io.StringIO()

    call_command("migrate_chats", *six_rows, "--progress-interval", "0", stderr=plain, stdout=io.StringIO())

    lines = plain.getvalue().splitlines()
    assert len(lines) >= 3
    assert "\r" not in plain.getvalue()
    assert lines[-1].startswith("migrate_chats mysql: 6/6 (100%) rows (inserted 6, present 0, quarantined 0)")


def test_verbosity_0_prints_nothing(six_rows: list[str]) -> None:
    out, err = io.StringIO(), io.StringIO()

    call_command("migrate_chats", *six_rows, verbosity=0, stderr=err, stdout=out)

    assert out.getvalue() == err.getvalue() == ""


# --- mysql-sessions ------------------------------------------------------------------------------------

SESSION_TABLES = [
    """CREATE TABLE chat_sessions (
        id INT PRIMARY KEY AUTO_INCREMENT, session_id VARCHAR(255) UNIQUE, title VARCHAR(500),
        user_id VARCHAR(255), created_at DATETIME, updated_at DATETIME, is_active BOOLEAN, metadata JSON)""",
    """CREATE TABLE chat_messages (
        id INT PRIMARY KEY AUTO_INCREMENT, session_id VARCHAR(255), message_id VARCHAR(255) UNIQUE,
        role VARCHAR(50), content LONGTEXT, message_type VARCHAR(50), `timestamp` DATETIME,
        source_documents JSON, error_info JSON, metadata JSON, INDEX idx_session (session_id))""",
    """CREATE TABLE chat_metadata (
        id INT PRIMARY KEY AUTO_INCREMENT, session_id VARCHAR(255), total_messages INT, total_tokens INT,
        last_user_message VARCHAR(255), last_assistant_message VARCHAR(255), model_used VARCHAR(100),
        language VARCHAR(10), tags JSON, custom_fields JSON, created_at DATETIME, updated_at DATETIME)""",
]


def test_mysql_session_tables_keep_ids_titles_metadata_and_map_string_users(
    legacy_mysql: LegacyMySQL, tmp_path: Path
) -> None:
    alice, bob = make_user(username="alice-support"), make_user()
    for statement in SESSION_TABLES:
        legacy_mysql.execute(statement)
    legacy_mysql.executemany(
        "INSERT INTO chat_sessions (session_id, title, user_id, created_at, updated_at, is_active, metadata) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [
            (
                "my_session_123",
                "Account help",
                "user_456",
                naive(at(0)),
                naive(at(90)),
                1,
                '{"department": "support"}',
            ),
            ("s-bob", "", str(bob.pk), naive(at(0)), naive(at(1)), 1, None),
            ("s-ghost", "Ghost", "ghost", naive(at(0)), naive(at(1)), 1, None),
            ("s-empty", "Nothing said", "user_456", naive(at(5)), naive(at(5)), 0, "{}"),
        ],
    )
    legacy_mysql.execute(
        "INSERT INTO chat_metadata (session_id, total_tokens, model_used, language, tags) "
        "VALUES ('my_session_123', 321, 'gpt-4', 'en', '[\"billing\", \"urgent\"]')"
    )
    legacy_mysql.executemany(
        "INSERT INTO chat_messages (session_id, message_id, role, content, message_type, `timestamp`, "
        "source_documents, error_info, metadata) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                "my_session_123",
                "m-1",
                "user",
                "I need help with my account",
                "text",
                naive(at(0)),
                None,
                None,
                None,
            ),
            (
                "my_session_123",
                "m-2",
                "assistant",
                "Sure, what happened?",
                "text",
                naive(at(0)),
                '[{"title": "FAQ", "url": "https://example.test/faq"}]',
                None,
                '{"latency": 1.5}',
            ),
            (
                "s-bob",
                "b-1",
                "system",
                "You are a helpful assistant.",
                "text",
                naive(at(0)),
                None,
                None,
                None,
            ),
            (
                "s-bob",
                "b-2",
                "user",
                "Can I take paracetamol when pregnant?",
                "text",
                naive(at(1)),
                None,
                None,
                None,
            ),
            (
                "s-bob",
                "b-3",
                "assistant",
                "The model timed out",
                "error",
                naive(at(1)),
                None,
                '{"type": "timeout"}',
                None,
            ),
            ("my_session_123", "m-3", "user", "I cannot log in", "text", naive(at(90)), None, None, None),
            ("s-ghost", "g-1", "user", "boo", "text", naive(at(0)), None, None, None),
            ("nope", "o-1", "user", "an orphan", "text", naive(at(0)), None, None, None),
        ],
    )
    user_map = tmp_path / "users.csv"
    user_map.write_text("legacy_user_id,account\nuser_456,alice-support\n")

    result = migrate_chats(
        "--source", "mysql-sessions", "--source-url", legacy_mysql.url, "--user-map", str(user_map)
    )

    assert result.code == 2
    assert "read 12 rows = inserted 9 + already present 0 + quarantined 3" in result.out
    account = selectors.get_session(user_id=alice.pk, session_id="my_session_123")
    assert (account.title, account.tags, account.message_count, account.last_message_at) == (
        "Account help",
        ["billing", "urgent"],
        3,
        at(90),
    )
    assert account.metadata["department"] == "support"
    assert account.metadata["chat_metadata"] == {"total_tokens": 321, "model_used": "gpt-4", "language": "en"}
    messages = list(selectors.iter_session_messages(session=account))
    assert [(m.message_id, m.role, m.model) for m in messages] == [
        ("m-1", "user", ""),
        ("m-2", "assistant", "gpt-4"),
        ("m-3", "user", ""),
    ]
    assert messages[1].source_documents == [{"title": "FAQ", "url": "https://example.test/faq"}]
    assert messages[1].metadata["latency"] == 1.5
    pregnancy = selectors.get_session(user_id=bob.pk, session_id="s-bob")
    assert pregnancy.title == "Can I take paracetamol when pregnant?"
    assert [(m.role, m.status, m.error_info) for m in selectors.iter_session_messages(session=pregnancy)] == [
        ("system", "completed", {}),
        ("user", "completed", {}),
        ("assistant", "failed", {"type": "timeout"}),
    ]
    empty = selectors.get_session(user_id=alice.pk, session_id="s-empty")
    assert (empty.message_count, empty.is_active, empty.title) == (0, False, "Nothing said")
    reasons = sorted(entry["reason"] for entry in runs.quarantine_collection().find({}))
    assert reasons == ["orphan message", "unknown user", "unknown user"]


# --- sqlite (WhatsApp) ---------------------------------------------------------------------------------


def whatsapp_database(path: Path) -> sqlite3.Connection:
    database = sqlite3.connect(path)
    database.executescript(
        """
        CREATE TABLE user (id INTEGER PRIMARY KEY, phone_number VARCHAR NOT NULL UNIQUE, name VARCHAR,
                           is_active BOOLEAN, created_at DATETIME, updated_at DATETIME);
        CREATE TABLE message (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES user (id), role VARCHAR,
                              content VARCHAR, meta_message_id VARCHAR, created_at DATETIME);
        CREATE INDEX ix_message_user_created ON message (user_id, created_at);
        """
    )
    return database


def test_whatsapp_users_are_matched_by_phone_or_created_and_their_messages_form_sessions(
    tmp_path: Path,
) -> None:
    known = make_user(phone_number="+4915112345678")
    path = tmp_path / "chatbot.db"
    database = whatsapp_database(path)
    database.executemany(
        "INSERT INTO user (id, phone_number, name, is_active) VALUES (?, ?, ?, 1)",
        [(1, "+49 151 1234 5678", "Known"), (2, "4917612345678", "Newcomer"), (3, "not a phone", "Broken")],
    )
    rows = [
        (1, "user", "Hallo, ich habe Fieber", "wamid.1", "2024-02-01 10:00:00.000000"),
        (1, "assistant", "Wie hoch ist das Fieber?", None, "2024-02-01 10:00:05.250000"),
        (1, "user", "39 Grad", "wamid.2", "2024-02-01 10:02:00.000000"),
        (1, "user", "Neue Frage am Abend", "wamid.3", "2024-02-01 19:00:00.000000"),
        (2, "user", "Hi there", "wamid.4", "2024-02-02 08:00:00.000000"),
        (3, "user", "lost", None, "2024-02-02 08:00:00"),
        (99, "user", "nobody", None, "2024-02-02 08:00:00"),
        (None, "user", "no user", None, "2024-02-02 08:00:00"),
        (1, "user", "when?", None, "last tuesday"),
    ]
    database.executemany(
        "INSERT INTO message (user_id, role, content, meta_message_id, created_at) VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    database.execute(
        "INSERT INTO message (user_id, role, content, created_at) VALUES (1, 'user', CAST(? AS TEXT), ?)",
        (b"caf\xe9 in latin-1", "2024-02-01 10:03:00"),
    )
    database.execute(
        "INSERT INTO message (user_id, role, content, created_at) VALUES (1, 'user', ?, ?)",
        ("x" * (17 * 1024 * 1024), "2024-02-01 10:04:00"),
    )
    database.commit()
    database.close()

    result = migrate_chats("--source", "sqlite", "--path", str(path), "--batch-size", "4")

    assert result.code == 2
    assert "read 11 rows = inserted 5 + already present 0 + quarantined 6" in result.out
    assert "accounts created 1" in result.out
    fever, evening = sessions_of(known)
    assert [(o, r, c) for o, r, c, _ in conversation(fever)] == [
        (1, "user", "Hallo, ich habe Fieber"),
        (2, "assistant", "Wie hoch ist das Fieber?"),
        (3, "user", "39 Grad"),
    ]
    assert (fever.channel, fever.title, fever.message_count) == ("whatsapp", "Hallo, ich habe Fieber", 3)
    assert conversation(fever)[1][3] == datetime(2024, 2, 1, 10, 0, 5, 250000, tzinfo=UTC)
    assert [c for _, _, c, _ in conversation(evening)] == ["Neue Frage am Abend"]
    newcomer = User.objects.get(phone_number="+4917612345678")
    assert (newcomer.username, newcomer.first_name, newcomer.has_usable_password()) == (
        "whatsapp-4917612345678",
        "Newcomer",
        False,
    )
    assert [c for _, _, c, _ in conversation(sessions_of(newcomer)[0])] == ["Hi there"]
    reasons = sorted(entry["reason"] for entry in runs.quarantine_collection().find({}))
    assert reasons == [
        "invalid UTF-8",
        "invalid phone number",
        "message over MongoDB's 16 MB document limit",
        "null user",
        "orphan message",
        "unparseable timestamp",
    ]
    too_big = runs.quarantine_collection().find_one({"reason": "message over MongoDB's 16 MB document limit"})
    assert too_big is not None
    assert too_big["row"]["content"] == {"omitted_chars": 17 * 1024 * 1024}


def import_one_whatsapp_message(tmp_path: Path, *, user: User, content: str) -> ChatSession:
    path = tmp_path / "chatbot.db"
    database = whatsapp_database(path)
    database.execute(
        "INSERT INTO user (id, phone_number, name, is_active) VALUES (1, ?, 'Alice', 1)", (user.phone_number,)
    )
    database.execute(
        "INSERT INTO message (user_id, role, content, created_at) VALUES (1, 'user', ?, ?)",
        (content, "2024-02-01 10:00:00.000000"),
    )
    database.commit()
    database.close()
    assert migrate_chats("--source", "sqlite", "--path", str(path)).code == 0
    (session,) = sessions_of(user)
    return session


def test_an_imported_message_has_the_fields_and_content_hash_of_a_live_one(tmp_path: Path) -> None:
    from chats import services

    alice = make_user(phone_number="+4915112345678")
    imported_session = import_one_whatsapp_message(tmp_path, user=alice, content="Fieber seit gestern")
    live = services.append_message(
        session=services.start_session(user_id=alice.pk), role="user", content="Fieber seit gestern"
    )

    imported = store.collection(ChatMessage).find_one({"session_id": imported_session.pk})
    stored_live = store.collection(ChatMessage).find_one({"_id": live.pk})
    assert imported is not None
    assert stored_live is not None
    assert list(imported) == list(stored_live)
    assert imported["content_hash"] == stored_live["content_hash"]
    assert imported["content_hash"] == builders.content_hash("Fieber seit gestern")
    assert imported["search_terms"] == stored_live["search_terms"]


def test_an_imported_session_has_the_fields_of_a_live_one(tmp_path: Path) -> None:
    from chats import services

    alice = make_user(phone_number="+4915112345678")
    imported_session = import_one_whatsapp_message(tmp_path, user=alice, content="Fieber seit gestern")
    live = services.start_session(user_id=alice.pk, title="Fieber seit gestern")

    imported = store.collection(ChatSession).find_one({"_id": imported_session.pk})
    stored_live = store.collection(ChatSession).find_one({"_id": live.pk})
    assert imported is not None
    assert stored_live is not None
    assert list(imported) == list(stored_live)
    assert imported["search_terms"] == stored_live["search_terms"]


def test_a_dry_run_of_whatsapp_creates_no_accounts(tmp_path: Path) -> None:
    path = tmp_path / "chatbot.db"
    database = whatsapp_database(path)
    database.execute("INSERT INTO user (id, phone_number, name) VALUES (1, '+4917600000001', 'New')")
    database.execute(
        "INSERT INTO message (user_id, role, content, created_at) VALUES (1, 'user', 'hi', '2024-01-01')"
    )
    database.commit()
    database.close()

    result = migrate_chats("--source", "sqlite", "--path", str(path), "--dry-run")

    assert (
        "would read 1 row = insert 1 + already present 0 + quarantine 0; would create 1 account" in result.out
    )
    assert not User.objects.filter(phone_number="+4917600000001").exists()


# --- json ----------------------------------------------------------------------------------------------


def hybrid_store(tmp_path: Path) -> Path:
    directory = tmp_path / "conversations"
    directory.mkdir()
    for source in (FIXTURES / "hybrid_store").iterdir():
        (directory / source.name).write_bytes(source.read_bytes())
    return directory


def test_json_conversations_keep_agent_steps_citations_and_pdf_names(tmp_path: Path) -> None:
    alice = make_user(username="alice-json")
    user_map = tmp_path / "users.csv"
    user_map.write_text("legacy-alice,alice-json\n")

    result = migrate_chats(
        "--source", "json", "--path", str(hybrid_store(tmp_path)), "--user-map", str(user_map)
    )

    assert result.code == 2
    assert "read 7 rows = inserted 4 + already present 0 + quarantined 3" in result.out
    session = selectors.get_session(user_id=alice.pk, session_id="6f1c2d3e-0a4b-4c5d-8e9f-101112131415")
    assert (session.title, session.metadata["context"]["region"], session.message_count) == (
        "Which fire safety rules apply to a three storey house?",
        "Upper Austria",
        3,
    )
    answer = list(selectors.iter_session_messages(session=session))[1]
    assert answer.agent_steps == ["retrieve", "rank", "answer"]
    assert answer.source_documents == [{"pdf": "OIB-RL2.pdf", "page": 12, "quote": "40 m"}]
    assert answer.attachments == [
        {"type": "pdf", "name": "OIB-RL2.pdf"},
        {"type": "pdf", "name": "Bauordnung.pdf"},
    ]
    assert answer.created_at == datetime(2024, 5, 2, 10, 0, 7, 250000, tzinfo=UTC)
    reasons = {entry["key"]: entry["reason"] for entry in runs.quarantine_collection().find({})}
    assert reasons == {
        "a0000000-0000-4000-8000-000000000002.json#1": "unknown role",
        "a0000000-0000-4000-8000-000000000002.json#2": "unparseable timestamp",
        "file:broken.json": "unparseable JSON",
    }


def test_a_medibot_backup_restores_what_is_missing_with_its_original_ids(tmp_path: Path) -> None:
    from chats import backups, services
    from tests.chats.factories import session_with_messages

    alice = make_user()
    kept = session_with_messages(user_id=alice.pk, messages=3)
    lost = session_with_messages(user_id=alice.pk, messages=2, title="precious")
    original = conversation(lost)
    backups.backup_changed_sessions(directory=str(tmp_path))
    services.delete_session_permanently(session=lost)

    result = migrate_chats("--source", "json", "--path", str(tmp_path))

    assert result.code == 0, result.err
    assert "read 5 rows = inserted 2 + already present 3 + quarantined 0" in result.out
    restored = selectors.get_session(user_id=alice.pk, session_id=lost.session_id)
    assert (restored.title, conversation(restored)) == ("precious", original)
    assert ChatSession.objects.get(pk=kept.pk).message_count == 3


# --- chatgpt -------------------------------------------------------------------------------------------


def test_chatgpt_export_shows_the_active_branch_with_model_slugs(tmp_path: Path) -> None:
    alice = make_user(username="alice-gpt")

    result = migrate_chats(
        "--source", "chatgpt", "--path", str(FIXTURES / "chatgpt_conversations.json"), "--user", "alice-gpt"
    )

    assert result.code == 0, result.err
    sleep = selectors.get_session(user_id=alice.pk, session_id="c1a2b3c4-1111-4222-8333-944455556666")
    messages = list(selectors.iter_session_messages(session=sleep))
    assert [(m.message_id, m.role, m.model, m.parent_message_id) for m in messages] == [
        ("n-question", "user", "", ""),
        ("n-answer-2", "assistant", "gpt-4o", "n-question"),
    ]
    assert sleep.title == "Sleep and caffeine"
    assert sleep.created_at == datetime.fromtimestamp(1714550400.123, tz=UTC).replace(microsecond=123000)
    assert messages[1].created_at == datetime(2024, 5, 1, 8, 1, 0, 750000, tzinfo=UTC)
    rash = selectors.get_session(user_id=alice.pk, session_id="c1a2b3c4-2222-4222-8333-944455556666")
    question, answer = selectors.iter_session_messages(session=rash)
    assert question.content == "Is this rash something to worry about?"
    assert question.attachments[0]["asset_pointer"] == "file-service://file-abc"
    assert (answer.model, answer.order) == ("o3", 2)


def test_a_zipped_chatgpt_export_with_several_json_files_gives_the_same_result(tmp_path: Path) -> None:
    alice = make_user(username="alice-zip")
    conversations = json.loads((FIXTURES / "chatgpt_conversations.json").read_text())
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("conversations-000.json", json.dumps(conversations[:1]))
        archive.writestr("conversations-001.json", json.dumps(conversations[1:]))
        archive.writestr("user.json", json.dumps({"email": "alice@example.test"}))
        archive.writestr("chat.html", "<html></html>")

    result = migrate_chats(
        "--source", "chatgpt", "--path", str(export), "--user", "alice-zip", "--batch-size", "1"
    )

    assert result.code == 0, result.err
    assert "read 5 rows = inserted 5" in result.out
    assert sorted(s.title for s in sessions_of(alice)) == ["Rash photo", "Sleep and caffeine"]


def test_a_chatgpt_export_for_an_unknown_account_is_refused() -> None:
    result = migrate_chats(
        "--source", "chatgpt", "--path", str(FIXTURES / "chatgpt_conversations.json"), "--user", "nobody"
    )

    assert (result.code, "no account with the username 'nobody'" in result.err) == (1, True)


# --- resumability: SIGKILL at random moments -----------------------------------------------------------


def expected_conversations(rows: list[tuple[Any, ...]]) -> dict[int, list[list[tuple[str, str, datetime]]]]:
    """The spec, written independently: per user, rows in (time, id) order split at gaps over 30 min."""
    by_user: dict[int, list[tuple[datetime, int, str, str | None]]] = {}
    for row_id, (user_id, message, response, moment) in enumerate(rows, start=1):
        if user_id is not None:
            by_user.setdefault(user_id, []).append((moment.replace(tzinfo=UTC), row_id, message, response))
    expected: dict[int, list[list[tuple[str, str, datetime]]]] = {}
    for user_id, items in by_user.items():
        sessions: list[list[tuple[str, str, datetime]]] = []
        last: datetime | None = None
        for moment, _row_id, message, response in sorted(items):
            if last is None or moment - last > timedelta(minutes=30):
                sessions.append([])
            last = moment
            sessions[-1].append(("user", message, moment))
            if response:
                sessions[-1].append(("assistant", response, moment))
        expected[user_id] = sessions
    return expected


def stored_conversations(user_ids: list[int]) -> dict[int, list[list[tuple[str, str, datetime]]]]:
    stored: dict[int, list[list[tuple[str, str, datetime]]]] = {}
    for user_id in user_ids:
        stored[user_id] = []
        for session in sorted(ChatSession.objects.filter(user_id=user_id), key=lambda s: s.created_at):
            messages = list(selectors.iter_session_messages(session=session))
            assert [m.order for m in messages] == list(range(1, len(messages) + 1))
            assert session.message_count == len(messages)
            for message in messages:
                assert message.content_hash == builders.content_hash(message.content)
            stored[user_id].append([(m.role, m.content, m.created_at) for m in messages])
    return stored


def batches_committed() -> int:
    run = runs.runs_collection().find_one({}, {"batches": 1})
    return int(run["batches"]) if run else 0


def committed_more_than(count: int) -> bool:
    return batches_committed() > count


@pytest.mark.slow
def test_a_run_killed_at_random_moments_resumes_to_exactly_the_source(
    legacy_mysql: LegacyMySQL, tmp_path: Path
) -> None:
    rng = random.Random(20240301)
    users = [make_user() for _ in range(6)]
    clock = {user.pk: T0 for user in users}
    rows: list[tuple[Any, ...]] = []
    for number in range(4000):
        user_id = rng.choice(users).pk
        clock[user_id] += timedelta(minutes=rng.choice([1, 2, 5, 29, 31, 300]))
        response = rng.choice([f"answer {number}", "", None, f"a longer answer {number} " * 4])
        rows.append((user_id, f"question {number} of user {user_id}", response, naive(clock[user_id])))
        if number % 400 == 7:
            rows.append((None, f"lost question {number}", "lost", naive(clock[user_id])))
    legacy_mysql.chat_history(rows)
    argv = [
        *(sys.executable, "manage.py", "migrate_chats", "--source", "mysql"),
        *("--source-url", legacy_mysql.url, "--batch-size", "50", "--allow-quarantine"),
    ]
    env = child_env()

    for _kill in range(6):
        before = batches_committed()
        child = Background(argv, env, tmp_path / "migrate.log")
        assert poll(partial(committed_more_than, before), timeout=120), (tmp_path / "migrate.log").read_text()
        time.sleep(rng.uniform(0, 0.5))  # a random moment: inside a bulk write, a checkpoint, a read
        assert child.process.poll() is None, "the run finished before it was killed: give it more rows"
        child.kill(signal.SIGKILL)
    finished = Background(argv, env, tmp_path / "migrate.log")
    assert finished.process.wait(timeout=600) == 0, (tmp_path / "migrate.log").read_text()

    (run,) = runs.list_runs()
    assert (run.state, run.resumed) == ("finished", 6)
    assert run.counts["read"] == len(rows) == 4010
    assert (run.counts["inserted"], run.counts["quarantined"]) == (4000, 10)
    assert runs.quarantine_collection().count_documents({}) == 10
    expected = expected_conversations(rows)
    assert stored_conversations([user.pk for user in users]) == expected
    assert ChatMessage.objects.count() == sum(len(s) for sessions in expected.values() for s in sessions)
    verified = migrate_chats("--source", "mysql", "--source-url", legacy_mysql.url, "--verify")
    assert verified.code == 0, verified.out


# --- staff sync API (Celery) ---------------------------------------------------------------------------


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Tasks run in the request, their state and result stored in the real result backend."""
    from chats.importers.tasks import import_json_backup
    from medibot.celery import app

    # A task copies task_store_eager_result when it is bound to the app (often before this test
    # runs), so the task's own attribute is set too; otherwise only its PROGRESS states are stored.
    saved = (
        app.conf.task_always_eager,
        app.conf.task_store_eager_result,
        import_json_backup.store_eager_result,
    )
    app.conf.task_always_eager, app.conf.task_store_eager_result = True, True
    import_json_backup.store_eager_result = True
    yield
    app.conf.task_always_eager, app.conf.task_store_eager_result, import_json_backup.store_eager_result = (
        saved
    )


def test_staff_sync_queues_the_json_import_and_reports_its_result(
    eager_celery: None, tmp_path: Path, settings: Any
) -> None:
    from chats import backups, services
    from tests.chats.conftest import client_for
    from tests.chats.factories import session_with_messages

    staff = make_staff(username="sync-staff")
    alice = make_user()
    lost = session_with_messages(user_id=alice.pk, messages=4)
    backups.backup_changed_sessions(directory=str(tmp_path))
    services.delete_session_permanently(session=lost)
    settings.CHAT_BACKUP_DIR = str(tmp_path)
    client = client_for(staff)

    started = client.post("/api/chat/sync")
    status = client.get(started.json()["status_url"])

    assert started.status_code == 202
    assert started.json()["status_url"] == f"/api/chat/sync/{started.json()['task_id']}"
    assert status.status_code == 200
    body = status.json()
    assert (body["state"], body["error"], body["progress"]) == ("SUCCESS", None, None)
    assert (body["result"]["read"], body["result"]["inserted"], body["result"]["quarantined"]) == (4, 4, 0)
    assert selectors.get_session(user_id=alice.pk, session_id=lost.session_id).message_count == 4


def test_sync_progress_is_the_tasks_state_while_it_runs(eager_celery: None) -> None:
    from celery.result import AsyncResult

    from chats.importers.tasks import PROGRESS, import_json_backup
    from tests.chats.conftest import client_for

    task_id = "progress-probe-1"
    AsyncResult(task_id, app=import_json_backup.app).backend.store_result(
        task_id, {"total": None, "read": 120, "inserted": 100, "already_present": 20}, PROGRESS
    )

    body = client_for(make_staff(username="sync-staff")).get(f"/api/chat/sync/{task_id}").json()

    assert (body["state"], body["progress"]["read"], body["result"]) == ("PROGRESS", 120, None)


def test_sync_is_for_staff_only() -> None:
    from tests.chats.conftest import client_for

    patient = client_for(make_user())

    assert patient.post("/api/chat/sync").status_code == 403
    assert patient.get("/api/chat/sync/some-task").status_code == 403


def test_sync_without_a_backup_directory_is_refused_with_409(settings: Any) -> None:
    from tests.chats.conftest import client_for

    settings.CHAT_BACKUP_DIR = ""

    response = client_for(make_staff(username="sync-staff")).post("/api/chat/sync")

    assert (response.status_code, response.json()["run_id"]) == (409, None)
    assert "CHAT_BACKUP_DIR is not set" in response.json()["detail"]


def test_sync_while_an_import_of_the_backup_directory_runs_is_409(tmp_path: Path, settings: Any) -> None:
    from tests.chats.conftest import client_for

    settings.CHAT_BACKUP_DIR = str(tmp_path)
    lock = runs.acquire_lock(f"json://{tmp_path.resolve()}")
    lock.beat(run_id="20240101-000000-json-abcdef")

    busy = client_for(make_staff(username="sync-staff")).post("/api/chat/sync")

    lock.release()
    assert (busy.status_code, busy.json()["run_id"]) == (409, "20240101-000000-json-abcdef")
