"""Settings come from the environment, with embedded defaults and no production secret defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
CLEAN_ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith(("DJANGO_", "MYSQL_", "MONGODB_", "CELERY_", "DATABASE_URL", "REDIS_URL"))
}
PROBE = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps({'default': settings.DATABASES['default']['ENGINE'],"
    " 'name': str(settings.DATABASES['default']['NAME']),"
    " 'chats': settings.DATABASES['chats']['HOST'], 'chats_engine': settings.DATABASES['chats']['ENGINE'],"
    " 'broker': settings.CELERY_BROKER_URL, 'debug': settings.DEBUG}))"
)


def load(settings_module: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={
            **CLEAN_ENV,
            "DJANGO_SETTINGS_MODULE": settings_module,
            "MEDIBOT_VAR_DIR": str(ROOT / "var" / "settings-probe"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_embedded_defaults_need_no_environment() -> None:
    result = load("medibot.settings.local")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["default"] == "django.db.backends.sqlite3"
    assert values["name"].startswith(str(ROOT / "var" / "settings-probe"))
    assert values["chats"] == "mongodb://127.0.0.1:27117/?directConnection=true"
    assert values["chats_engine"] == "medibot.mongodb"
    assert values["broker"] == "filesystem://"
    assert values["debug"] is True


def test_environment_selects_mysql_mongodb_and_redis() -> None:
    result = load(
        "medibot.settings.local",
        MYSQL_HOST="db.internal",
        MYSQL_DATABASE="medibot",
        MONGODB_URI="mongodb://mongo.internal:27017/?replicaSet=rs0",
        CELERY_BROKER_URL="redis://redis.internal:6379/0",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["default"] == "django.db.backends.mysql"
    assert values["chats"] == "mongodb://mongo.internal:27017/?replicaSet=rs0"
    assert values["broker"] == "redis://redis.internal:6379/0"


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = load("medibot.settings.production", DJANGO_ALLOWED_HOSTS="medibot.example")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off() -> None:
    result = load(
        "medibot.settings.production", DJANGO_SECRET_KEY="k" * 64, DJANGO_ALLOWED_HOSTS="medibot.example"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["debug"] is False


@pytest.mark.django_db(databases=["default", "chats"])
def test_system_checks_pass_on_both_databases() -> None:
    call_command("check", databases=["default", "chats"], fail_level="WARNING")


def test_replica_settings_add_a_replica_alias_with_the_primarys_credentials() -> None:
    import environ

    from medibot.settings.base import relational_database, replica_database

    env = environ.Env()
    env.ENVIRON = {
        "MYSQL_HOST": "db-primary",
        "MYSQL_PASSWORD": "pw",
        "MYSQL_DATABASE": "medibot",
        "MYSQL_REPLICA_HOST": "db-replica",
    }
    primary = relational_database(env)
    replica = replica_database(env, primary)

    assert replica is not None
    assert (replica["HOST"], replica["NAME"], replica["PASSWORD"]) == ("db-replica", "medibot", "pw")
    assert replica["OPTIONS"]["charset"] == "utf8mb4"


def test_no_replica_settings_means_no_replica_alias() -> None:
    import environ

    from medibot.settings.base import replica_database

    env = environ.Env()
    env.ENVIRON = {}
    assert replica_database(env, {"ENGINE": "django.db.backends.sqlite3"}) is None
