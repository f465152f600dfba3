"""Shared fixtures. With CI=true every real service must answer, or the whole run fails."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import UserFactory

REAL_SERVICES: bool = getattr(settings, "REAL_SERVICES", False)


def _service_problems() -> list[str]:
    problems: list[str] = []
    try:
        from pymongo import MongoClient

        client: MongoClient[dict[str, object]]
        with MongoClient(settings.DATABASES["chats"]["HOST"], serverSelectionTimeoutMS=5000) as client:
            client.admin.command("ping")
    except Exception as exc:
        problems.append(f"MongoDB ({settings.DATABASES['chats']['HOST']}): {exc.__class__.__name__}: {exc}")
    if REAL_SERVICES:
        default = settings.DATABASES["default"]
        if default["ENGINE"] != "django.db.backends.mysql":
            problems.append(f"CI needs MySQL/MariaDB for 'default', settings give {default['ENGINE']}")
        else:
            import MySQLdb

            try:
                MySQLdb.connect(
                    host=default["HOST"],
                    port=int(default["PORT"]),
                    user=default["USER"],
                    password=default["PASSWORD"],
                    connect_timeout=5,
                ).close()
            except Exception as exc:
                problems.append(f"MariaDB/MySQL ({default['HOST']}:{default['PORT']}): {exc}")
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3).ping()
        except Exception as exc:
            problems.append(f"Redis ({settings.REDIS_URL}): {exc}")
    return problems


def pytest_configure(config: pytest.Config) -> None:
    """Without ``MONGODB_URI``, the session's own SecantusDB on a free port (stopped at exit); the
    test settings only declare the stores, they start nothing."""
    if "MONGODB_URI" in os.environ:
        return
    from django.db import connections

    from medibot.embedded import start_for_session

    _process, uri = start_for_session()
    settings.DATABASES["chats"]["HOST"] = uri
    connections.settings["chats"]["HOST"] = uri
    os.environ["MONGODB_URI"] = uri  # the servers and workers the tests start use the same one


def pytest_sessionstart(session: pytest.Session) -> None:
    problems = _service_problems()
    if problems:
        pytest.exit("Required services are missing:\n  " + "\n  ".join(problems), returncode=3)


def pytest_report_header(config: pytest.Config) -> list[str]:
    default = settings.DATABASES["default"]
    return [
        f"medibot: default={default['ENGINE'].rsplit('.', 1)[-1]}@{default.get('HOST') or default['NAME']}"
        f" chats={settings.DATABASES['chats']['HOST']} broker={settings.CELERY_BROKER_URL}"
        f" real_services={REAL_SERVICES}",
    ]


@pytest.fixture
def user(db: None) -> object:
    return UserFactory()


@pytest.fixture
def other_user(db: None) -> object:
    return UserFactory()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    """Fail a test whose product code sent a chat query without the shard key (docs/SCALING.md)."""
    from medibot.mongodb.shard_guard import guard

    shard_guard = guard()
    if shard_guard is not None:
        shard_guard.take_violations()
    result = yield
    if shard_guard is not None:
        violations = shard_guard.take_violations()
        if violations:
            listed = "\n  ".join(sorted({str(violation) for violation in violations}))
            raise AssertionError(
                "chat queries a sharded cluster would broadcast to every shard (add user_id to the filter, "
                "or "
                "wrap deliberate cluster-wide background/staff work in "
                f"medibot.mongodb.shard_guard.unscoped(reason); see docs/SCALING.md):\n  {listed}"
            )
    return result
