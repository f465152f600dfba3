"""``manage.py chats_doctor`` against the real MariaDB/SQLite, SecantusDB and Redis of the test run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from pymongo.database import Database

from chats.doctor import (
    FAIL,
    NOTE,
    OK,
    SCRATCH_COLLECTION,
    SKIP,
    DoctorReport,
    ExpectedIndex,
    MongoTarget,
    check_redis,
    describe_sql_location,
    doctor_client_options,
    index_problems,
    mask_uri,
    run_checks,
    targets_from_settings,
)
from chats.models import ChatSession

UNREACHABLE_MONGODB = "mongodb://127.0.0.1:1/?directConnection=true"
both_databases = pytest.mark.django_db(databases=["default", "chats"])


def _chats_database() -> Database:
    connection: Any = connections["chats"]  # django-mongodb-backend's wrapper adds ``database``
    return connection.database


def _statuses(report: DoctorReport) -> dict[str, str]:
    return {check.name: check.status for check in report.checks}


def _run_command(*args: str) -> str:
    out = StringIO()
    call_command("chats_doctor", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def scratch_collection() -> Iterator[str]:
    name = "_doctor_test_indexes"
    yield name
    _chats_database().drop_collection(name)


@both_databases
def test_healthy_setup_passes_with_verdict_line() -> None:
    output = _run_command()

    assert "[FAIL]" not in output
    assert "[ok]   chats database: " in output
    assert "[ok]   indexes: all " in output
    assert "[ok]   round trip: " in output
    assert output.rstrip().splitlines()[-1] == "Medibot doctor: all checks passed"


@both_databases
def test_json_output_reports_every_check() -> None:
    report = json.loads(_run_command("--json"))

    assert report["passed"] is True
    assert report["problems"] == 0
    assert report["verdict"] == "Medibot doctor: all checks passed"
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["default database"] == OK
    assert statuses["chats database"] == OK
    assert statuses["indexes"] == OK
    assert statuses["round trip"] == OK
    assert statuses["redis"] == (OK if getattr(settings, "REAL_SERVICES", False) else NOTE)


@both_databases
def test_expected_indexes_cover_model_indexes_field_uniques_and_unique_indexes() -> None:
    expected = {(i.collection, i.name): i for i in targets_from_settings().expected_indexes}

    assert expected["chat_sessions", "session_list_idx"].keys == (
        ("user_id", 1),
        ("deleted_at", 1),
        ("is_archived", 1),
        ("updated_at", -1),
    )
    assert expected["chat_messages", "uniq_message_branch_order"] == ExpectedIndex(
        "chat_messages",
        "uniq_message_branch_order",
        (("user_id", 1), ("session_id", 1), ("branch", 1), ("order", 1)),
        unique=True,
    )
    daily_uniques = [i for (collection, _), i in expected.items() if collection == "chat_daily_stats"]
    assert [(i.keys, i.unique) for i in daily_uniques] == [((("date", 1),), True)]


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        (
            "mongodb://admin:s3cret@db.example.com:27017/medibot?authSource=admin",
            "mongodb://***:***@db.example.com:27017/medibot?authSource=admin",
        ),
        (
            "mongodb+srv://doadmin:AVNS_abc@cluster.example.net/chats",
            "mongodb+srv://***:***@cluster.example.net/chats",
        ),
        (
            "mongodb://u:p@h1:27017,h2:27017/?replicaSet=rs0",
            "mongodb://***:***@h1:27017,h2:27017/?replicaSet=rs0",
        ),
        ("redis://:hunter2@redis:6379/0", "redis://***:***@redis:6379/0"),
        ("redis://redis:6379/0?password=hunter2", "redis://redis:6379/0?password=***"),
        (
            "mongodb://h/?tlsCertificateKeyFilePassword=pw&tls=true",
            "mongodb://h/?tlsCertificateKeyFilePassword=***&tls=true",
        ),
        (
            "mongodb://127.0.0.1:27017/?directConnection=true",
            "mongodb://127.0.0.1:27017/?directConnection=true",
        ),
    ],
)
def test_mask_uri_hides_credentials(uri: str, masked: str) -> None:
    assert mask_uri(uri) == masked


def test_mask_uri_hides_credentials_inside_a_message() -> None:
    message = "cannot reach mongodb://admin:s3cret@db:27017/x: timed out"

    assert mask_uri(message) == "cannot reach mongodb://***:***@db:27017/x: timed out"


def test_sql_location_never_contains_the_password() -> None:
    location = describe_sql_location(
        {
            "ENGINE": "django.db.backends.mysql",
            "HOST": "mysql",
            "PORT": 3306,
            "USER": "medibot",
            "PASSWORD": "s3cret-db-pass",
            "NAME": "medibot",
        }
    )

    assert location == "medibot@mysql:3306/medibot"


def test_doctor_bounds_every_mongodb_operation_by_the_selection_timeout() -> None:
    configured = {"serverSelectionTimeoutMS": 2000, "timeoutMS": 30_000, "appname": "medibot"}

    options = doctor_client_options(configured)

    assert options == {"serverSelectionTimeoutMS": 2000, "timeoutMS": 2000, "appname": "medibot"}


def test_redis_not_configured_is_a_note_with_the_embedded_broker() -> None:
    result = check_redis("", "filesystem://")

    assert result.status == NOTE
    assert result.summary == "not configured (embedded broker: filesystem://)"


def test_unreachable_redis_is_a_failure_with_masked_password() -> None:
    result = check_redis("redis://:hunter2@127.0.0.1:1/0", "")

    assert result.status == FAIL
    assert "redis://***:***@127.0.0.1:1/0" in result.summary
    assert "hunter2" not in result.summary


@both_databases
def test_unreachable_mongodb_fails_and_skips_the_dependent_checks() -> None:
    targets = replace(
        targets_from_settings(),
        mongo=MongoTarget(
            uri=UNREACHABLE_MONGODB, database="medibot_chats", options={"serverSelectionTimeoutMS": 200}
        ),
    )

    report = run_checks(targets)

    statuses = _statuses(report)
    assert statuses["chats database"] == FAIL
    assert statuses["indexes"] == SKIP
    assert statuses["round trip"] == SKIP
    assert report.verdict == "Medibot doctor: 1 problem(s)"


@both_databases
@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_command_exits_non_zero_when_mongodb_is_unreachable() -> None:
    chats = {
        **settings.DATABASES["chats"],
        "HOST": UNREACHABLE_MONGODB,
        "OPTIONS": {"serverSelectionTimeoutMS": 200},
    }
    out = StringIO()

    with (
        override_settings(DATABASES={**settings.DATABASES, "chats": chats}),
        pytest.raises(CommandError, match=r"Medibot doctor: 1 problem\(s\)") as raised,
    ):
        call_command("chats_doctor", stdout=out)

    assert raised.value.returncode == 1
    assert "[FAIL] chats database: cannot reach mongodb://127.0.0.1:1/" in out.getvalue()


@both_databases
def test_missing_index_is_a_failure_that_names_it_and_the_fix() -> None:
    index = next(i for i in ChatSession._meta.indexes if i.name == "session_pinned_idx")
    _chats_database()["chat_sessions"].drop_index(index.name)
    out = StringIO()
    try:
        with pytest.raises(CommandError):
            call_command("chats_doctor", stdout=out)
    finally:
        with connections["chats"].schema_editor() as editor:
            editor.add_index(ChatSession, index)

    output = out.getvalue()
    assert "[FAIL] indexes: 1 of " in output
    assert "python manage.py migrate --database chats" in output
    assert "chat_sessions.session_pinned_idx (user_id, is_pinned): missing" in output


@both_databases
def test_index_comparison_on_a_real_collection(scratch_collection: str) -> None:
    collection = _chats_database()[scratch_collection]
    collection.create_index([("user_id", 1), ("created_at", -1)], name="present_idx", unique=True)
    collection.create_index([("user_id", 1)], name="changed_idx")
    collection.create_index(
        [("message_id", 1)],
        name="partial_idx",
        unique=True,
        partialFilterExpression={"message_id": {"$type": "string"}},
    )
    expected = [
        ExpectedIndex(scratch_collection, "present_idx", (("user_id", 1), ("created_at", -1)), unique=True),
        ExpectedIndex(scratch_collection, "changed_idx", (("user_id", 1), ("order", 1))),
        ExpectedIndex(scratch_collection, "partial_idx", (("message_id", 1),), unique=True),
        ExpectedIndex(scratch_collection, "absent_idx", (("session_id", 1),)),
        ExpectedIndex("no_such_collection", "other_idx", (("x", 1),)),
    ]

    problems = index_problems(expected, {scratch_collection: collection.index_information()})

    assert problems == [
        f"{scratch_collection}.changed_idx (user_id, order): differs, found (user_id)",
        f"{scratch_collection}.partial_idx (message_id) unique: differs, found (message_id) unique partial",
        f"{scratch_collection}.absent_idx (session_id): missing",
        "no_such_collection.other_idx (x): missing (no collection no_such_collection)",
    ]


@both_databases
def test_round_trip_leaves_nothing_behind() -> None:
    database = _chats_database()
    ChatSession.objects.create(user_id=1, title="kept")
    counts_before = {name: database[name].count_documents({}) for name in database.list_collection_names()}

    report = run_checks(targets_from_settings())

    assert _statuses(report)["round trip"] == OK
    assert SCRATCH_COLLECTION not in database.list_collection_names()
    assert {name: database[name].count_documents({}) for name in database.list_collection_names()} == (
        counts_before
    )
