"""Medibot doctor: are MySQL, MongoDB (chats), Redis and the chat indexes ready to serve?

``run_checks()`` takes every URI and alias as a parameter (``DoctorTargets``), so a test can aim it
at an unreachable server; ``targets_from_settings()`` builds the targets ``manage.py chats_doctor``
uses. Every URI that reaches a report goes through ``mask_uri()`` first.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from django.apps import apps
from django.conf import settings
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.utils import timezone
from django_mongodb_backend.schema import DatabaseSchemaEditor
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.operations import IndexModel

from chats.models import UNIQUE_INDEXES

OK = "ok"
FAIL = "FAIL"
NOTE = "note"
SKIP = "skip"

SCRATCH_COLLECTION = "_medibot_doctor"
MIGRATE_HINT = "run `python manage.py migrate --database chats` to create them"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5000
REDIS_TIMEOUT_SECONDS = 3
ERROR_MAX_CHARS = 300

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<userinfo>[^@\s]*)@")
_SECRET_QUERY_VALUE = re.compile(
    r"(?P<key>[?&;][^=&;#\s]*(?:password|secret|token|authMechanismProperties)[^=&;#\s]*=)[^&;#\s]*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str
    summary: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class DoctorReport:
    checks: tuple[CheckResult, ...]

    @property
    def problems(self) -> int:
        return sum(1 for check in self.checks if check.status == FAIL)

    @property
    def passed(self) -> bool:
        return self.problems == 0

    @property
    def verdict(self) -> str:
        if self.passed:
            return "Medibot doctor: all checks passed"
        return f"Medibot doctor: {self.problems} problem(s)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "problems": self.problems,
            "verdict": self.verdict,
            "checks": [
                {"name": c.name, "status": c.status, "summary": c.summary, "details": list(c.details)}
                for c in self.checks
            ],
        }


@dataclass(frozen=True)
class ExpectedIndex:
    """An index ``migrate --database chats`` creates; compared by name, keys, unique and partial."""

    collection: str
    name: str
    keys: tuple[tuple[str, int | str], ...]
    unique: bool = False
    partial: bool = False

    def describe(self) -> str:
        return _describe_index(self.keys, unique=self.unique, partial=self.partial)


@dataclass(frozen=True)
class MongoTarget:
    uri: str
    database: str
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)  # may hold a password


@dataclass(frozen=True)
class DoctorTargets:
    sql_alias: str
    mongo: MongoTarget
    redis_url: str
    broker_url: str
    expected_indexes: tuple[ExpectedIndex, ...]


def mask_uri(text: str) -> str:
    """Hide user names, passwords and secret query values of every URI in ``text``."""

    def hide_userinfo(match: re.Match[str]) -> str:
        masked = "***:***" if ":" in match["userinfo"] else "***"
        return f"{match['scheme']}{masked}@"

    return _SECRET_QUERY_VALUE.sub(r"\g<key>***", _USERINFO.sub(hide_userinfo, text))


def describe_sql_location(settings_dict: Mapping[str, Any]) -> str:
    """``user@host:port/name`` (or the SQLite file); the password is never part of it."""
    if settings_dict.get("ENGINE", "").endswith("sqlite3"):
        return str(settings_dict.get("NAME", ""))
    host = settings_dict.get("HOST") or "localhost"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    user = f"{settings_dict['USER']}@" if settings_dict.get("USER") else ""
    return f"{user}{host}{port}/{settings_dict.get('NAME', '')}"


def describe_keys(keys: Iterable[tuple[str, int | str]]) -> str:
    parts = []
    for name, direction in keys:
        if direction == 1:
            parts.append(name)
        elif direction == -1:
            parts.append(f"-{name}")
        else:
            parts.append(f"{name}:{direction}")
    return "(" + ", ".join(parts) + ")"


def _normalized_keys(keys: Iterable[tuple[str, Any]]) -> tuple[tuple[str, int | str], ...]:
    """MongoDB may hand back ``1.0`` for ``1``; special indexes keep their type name (``text``)."""
    return tuple(
        (str(name), int(direction) if isinstance(direction, int | float) else str(direction))
        for name, direction in keys
    )


def _describe_index(keys: Iterable[tuple[str, int | str]], *, unique: bool, partial: bool) -> str:
    return describe_keys(keys) + (" unique" if unique else "") + (" partial" if partial else "")


def _describe_found(info: Mapping[str, Any]) -> str:
    return _describe_index(
        _normalized_keys(info["key"]),
        unique=bool(info.get("unique", False)),
        partial="partialFilterExpression" in info,
    )


class _IndexRecorder(DatabaseSchemaEditor):
    """Collects the indexes ``migrate`` would create for a model instead of creating them.

    Every index of django-mongodb-backend (field ``db_index``/``unique``, ``unique_together``,
    ``Meta.constraints``, ``Meta.indexes``) goes through ``add_index()``, overridden here.
    """

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        super().__init__(connection, collect_sql=False, atomic=False)
        self.recorded: list[ExpectedIndex] = []

    def add_index(
        self,
        model: type[Model],
        index: Any,
        *,
        field: Any = None,
        unique: bool = False,
        column_prefix: str = "",
        parent_model: type[Model] | None = None,
    ) -> None:
        index_model = index.get_pymongo_index_model(
            model, schema_editor=self, field=field, unique=unique, column_prefix=column_prefix
        )
        if not isinstance(index_model, IndexModel):  # expression or Atlas search index
            return
        document = index_model.document
        self.recorded.append(
            ExpectedIndex(
                collection=(parent_model or model)._meta.db_table,
                name=document["name"],
                keys=_normalized_keys(document["key"].items()),
                unique=bool(document.get("unique", False)),
                partial="partialFilterExpression" in document,
            )
        )


def expected_indexes(
    models: Iterable[type[Model]],
    connection: BaseDatabaseWrapper,
    unique_indexes: Mapping[str, Sequence[tuple[str, Sequence[str]]]],
) -> tuple[ExpectedIndex, ...]:
    """The indexes the chats migrations create: the models' own plus ``UNIQUE_INDEXES``; no I/O."""
    recorder = _IndexRecorder(connection)
    for model in models:
        recorder._create_model_indexes(model)
    declared_unique = [
        ExpectedIndex(collection, name, tuple((key, 1) for key in keys), unique=True)
        for collection, indexes in unique_indexes.items()
        for name, keys in indexes
    ]
    return (*recorder.recorded, *declared_unique)


def index_problems(
    expected: Iterable[ExpectedIndex], actual: Mapping[str, Mapping[str, Mapping[str, Any]]]
) -> list[str]:
    """Compare declared indexes with ``{collection: collection.index_information()}``."""
    problems = []
    for index in expected:
        label = f"{index.collection}.{index.name} {index.describe()}"
        collection_indexes = actual.get(index.collection)
        if collection_indexes is None:
            problems.append(f"{label}: missing (no collection {index.collection})")
            continue
        found = collection_indexes.get(index.name)
        if found is None:
            problems.append(f"{label}: missing")
            continue
        found_shape = (
            _normalized_keys(found["key"]),
            bool(found.get("unique", False)),
            "partialFilterExpression" in found,
        )
        if found_shape != (index.keys, index.unique, index.partial):
            problems.append(f"{label}: differs, found {_describe_found(found)}")
    return problems


def _error(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0].split(", Topology Description:", 1)[0]
    text = mask_uri(f"{type(exc).__name__}: {first_line}")
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 3] + "..."


def check_sql_database(alias: str) -> CheckResult:
    """Connect to a relational alias and report its server; the password never appears."""
    name = f"{alias} database"
    connection = connections[alias]
    location = describe_sql_location(connection.settings_dict)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        version = _sql_server_version(connection)
    except Exception as exc:  # a doctor reports every failure instead of crashing
        return CheckResult(name, FAIL, f"cannot connect to {location}: {_error(exc)}")
    engine = connection.settings_dict["ENGINE"]
    return CheckResult(name, OK, f"{connection.display_name} {version} at {location} ({engine})")


def _sql_server_version(connection: BaseDatabaseWrapper) -> str:
    if connection.vendor == "mysql":
        return str(connection.mysql_server_info)  # type: ignore[attr-defined]
    if connection.vendor == "sqlite":
        return sqlite3.sqlite_version
    return ".".join(str(part) for part in connection.get_database_version())


def redis_url_to_check(redis_url: str, broker_url: str) -> str:
    """REDIS_URL when set, else a Redis Celery broker, else "" (nothing to check)."""
    if redis_url:
        return redis_url
    return broker_url if broker_url.startswith(("redis://", "rediss://")) else ""


def check_redis(redis_url: str, broker_url: str) -> CheckResult:
    url = redis_url_to_check(redis_url, broker_url)
    if not url:
        return CheckResult("redis", NOTE, f"not configured (embedded broker: {mask_uri(broker_url)})")
    try:
        client = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
        try:
            info = client.info("server")
        finally:
            client.close()
    except Exception as exc:  # a doctor reports every failure instead of crashing
        return CheckResult("redis", FAIL, f"cannot reach {mask_uri(url)}: {_error(exc)}")
    return CheckResult("redis", OK, f"Redis {info.get('redis_version', '?')} at {mask_uri(url)}")


def _check_mongodb_server(client: MongoClient[dict[str, Any]], target: MongoTarget) -> list[CheckResult]:
    info = client.server_info()
    hello = client.admin.command("hello")
    version = f"MongoDB {info.get('version', '?')}"
    if "secantusVersion" in info:
        version += f" (SecantusDB {info['secantusVersion']})"
    server = CheckResult(
        "chats database", OK, f"{version} at {mask_uri(target.uri)}, database {target.database}"
    )
    if "setName" in hello:
        transactions = CheckResult("transactions", OK, f"supported (replica set {hello['setName']})")
    elif hello.get("msg") == "isdbgrid":
        transactions = CheckResult("transactions", OK, "supported (sharded cluster)")
    else:
        transactions = CheckResult(
            "transactions",
            NOTE,
            "not supported by a standalone server: atomic(using='chats') cannot roll chat writes back",
            ("run MongoDB as a replica set (docker-compose.yml starts a one-node set)",),
        )
    return [server, transactions]


def _check_collections(
    database: Database[dict[str, Any]], expected: Sequence[ExpectedIndex]
) -> list[CheckResult]:
    actual = {name: database[name].index_information() for name in sorted(database.list_collection_names())}
    listing = tuple(
        f"{name}: "
        + (", ".join(f"{index} {_describe_found(info)}" for index, info in indexes.items()) or "-")
        for name, indexes in actual.items()
    )
    collections = CheckResult("collections", OK, f"{len(actual)} in {database.name}", listing)
    problems = index_problems(expected, actual)
    if problems:
        indexes = CheckResult(
            "indexes",
            FAIL,
            f"{len(problems)} of {len(expected)} declared indexes missing or different; {MIGRATE_HINT}",
            tuple(problems),
        )
    else:
        indexes = CheckResult("indexes", OK, f"all {len(expected)} declared indexes present")
    return [collections, indexes]


def check_round_trip(database: Database[dict[str, Any]]) -> CheckResult:
    """Write, read back and delete one marker document; the scratch collection is dropped after."""
    name = "round trip"
    collection = database[SCRATCH_COLLECTION]
    marker = uuid.uuid4().hex
    try:
        try:
            document_id = collection.insert_one({"marker": marker, "written_at": timezone.now()}).inserted_id
            found = collection.find_one({"_id": document_id})
            deleted = collection.delete_one({"_id": document_id}).deleted_count
        finally:
            collection.delete_many({"marker": marker})
            if collection.find_one({}, {"_id": 1}) is None:
                database.drop_collection(SCRATCH_COLLECTION)
    except Exception as exc:  # a doctor reports every failure instead of crashing
        return CheckResult(name, FAIL, f"write/read/delete on {SCRATCH_COLLECTION} failed: {_error(exc)}")
    if found is None or found.get("marker") != marker:
        return CheckResult(name, FAIL, f"a document written to {SCRATCH_COLLECTION} did not read back")
    if deleted != 1:
        return CheckResult(name, FAIL, f"a document written to {SCRATCH_COLLECTION} was not deleted")
    return CheckResult(name, OK, f"write, read and delete on {SCRATCH_COLLECTION}; nothing left behind")


def doctor_client_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The configured options, with every operation bounded by the server selection timeout.

    A set ``timeoutMS`` replaces ``serverSelectionTimeoutMS`` in PyMongo, so an unreachable server
    would otherwise hold the doctor for the whole operation budget (30 s by default).
    """
    selection_ms = int(options.get("serverSelectionTimeoutMS") or DEFAULT_SERVER_SELECTION_TIMEOUT_MS)
    operation_ms = min(int(options.get("timeoutMS") or selection_ms), selection_ms)
    return {**options, "serverSelectionTimeoutMS": selection_ms, "timeoutMS": operation_ms}


def check_mongodb(target: MongoTarget, expected: Sequence[ExpectedIndex]) -> list[CheckResult]:
    """Server, transactions, collections, indexes and a round trip; skips the rest if unreachable."""
    try:
        client: MongoClient[dict[str, Any]] = MongoClient(target.uri, **doctor_client_options(target.options))
    except Exception as exc:  # invalid URI or options
        return _mongodb_unreachable(target, exc)
    with client:
        try:
            results = _check_mongodb_server(client, target)
        except Exception as exc:  # a doctor reports every failure instead of crashing
            return _mongodb_unreachable(target, exc)
        database = client[target.database]
        try:
            results += _check_collections(database, expected)
        except Exception as exc:  # a doctor reports every failure instead of crashing
            results.append(CheckResult("collections", FAIL, f"cannot list collections: {_error(exc)}"))
        results.append(check_round_trip(database))
    return results


def _mongodb_unreachable(target: MongoTarget, exc: BaseException) -> list[CheckResult]:
    reason = "chats database unreachable"
    later_checks = ("transactions", "collections", "indexes", "round trip")
    return [
        CheckResult(
            "chats database",
            FAIL,
            f"cannot reach {mask_uri(target.uri)} (database {target.database}): {_error(exc)}",
        ),
        *(CheckResult(name, SKIP, reason) for name in later_checks),
    ]


def run_checks(targets: DoctorTargets) -> DoctorReport:
    return DoctorReport(
        checks=(
            check_sql_database(targets.sql_alias),
            *check_mongodb(targets.mongo, targets.expected_indexes),
            check_redis(targets.redis_url, targets.broker_url),
        )
    )


def targets_from_settings(*, sql_alias: str = "default", chats_alias: str = "chats") -> DoctorTargets:
    """The URIs and credentials Medibot itself uses, read from ``settings.DATABASES`` and Celery settings."""
    chats = settings.DATABASES[chats_alias]
    options: dict[str, Any] = dict(chats.get("OPTIONS", {}))
    if chats.get("USER"):
        options["username"] = chats["USER"]
    if chats.get("PASSWORD"):
        options["password"] = chats["PASSWORD"]
    if chats.get("PORT"):
        options["port"] = int(chats["PORT"])
    chat_models = [model for model in apps.get_models() if router.allow_migrate_model(chats_alias, model)]
    return DoctorTargets(
        sql_alias=sql_alias,
        mongo=MongoTarget(uri=chats["HOST"], database=chats["NAME"], options=options),
        redis_url=str(getattr(settings, "REDIS_URL", "") or ""),
        broker_url=str(getattr(settings, "CELERY_BROKER_URL", "") or ""),
        expected_indexes=expected_indexes(chat_models, connections[chats_alias], UNIQUE_INDEXES),
    )


def render_text(report: DoctorReport) -> str:
    lines = []
    for check in report.checks:
        lines.append(f"{'[' + check.status + ']':<7}{check.name}: {check.summary}")
        lines.extend(f"{'':<9}{detail}" for detail in check.details)
    lines.append(report.verdict)
    return "\n".join(lines)
