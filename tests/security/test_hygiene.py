"""Deployment hygiene: ``check --deploy`` is clean under production settings, security headers and
no-store on every chat and EHR answer, hashed passwords, idle sessions expire, tokens can be revoked,
and no message text or EHR value ever reaches a log record."""

from __future__ import annotations

import json
import logging
import os
import secrets
import string
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import ApiToken, User
from tests.security.conftest import World, body_of, client_for, token_client
from tests.security.routes import all_routes
from tests.support.processes import ROOT

PRODUCTION_HOST = "medibot.example.test"
PASSWORD = "correct-horse-battery-staple"

PRODUCTION_PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client

client = Client(SERVER_NAME="medibot.example.test")
api = client.get("/api/auth/me", secure=True)
page = client.get("/login/", secure=True)
plain = client.get("/api/auth/me")
print(json.dumps({
    "api": dict(api.headers), "api_status": api.status_code,
    "page": dict(page.headers),
    "plain_status": plain.status_code, "plain_location": plain.headers.get("Location", ""),
    "hashers": settings.PASSWORD_HASHERS,
    "debug": settings.DEBUG,
    "session_cookie_age": settings.SESSION_COOKIE_AGE,
    "session_save_every_request": settings.SESSION_SAVE_EVERY_REQUEST,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csrf_cookie_secure": settings.CSRF_COOKIE_SECURE,
    "pymongo_log_level": settings.LOGGING["loggers"].get("pymongo", {}).get("level"),
}))
"""


def production_env() -> dict[str, str]:
    """What a deployment must provide (docs: README settings table), pointing at the test stores."""
    alphabet = string.ascii_letters + string.digits + "!@#%^&*(-_=+)"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST", "DJANGO_", "MYSQL_", "MONGODB_", "DATABASE_", "CELERY_", "REDIS_"))
        and key not in ("CI", "MEDIBOT_TEST_REAL_SERVICES")
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "medibot.settings.production",
            "DJANGO_SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(64)),
            "DJANGO_ALLOWED_HOSTS": PRODUCTION_HOST,
            "MYSQL_HOST": "127.0.0.1",
            "MYSQL_PORT": "3306",
            "MYSQL_USER": "root",
            "MYSQL_PASSWORD": "",
            "MYSQL_DATABASE": "medibot",
            "MONGODB_URI": settings.DATABASES["chats"]["HOST"],
            "REDIS_URL": "redis://127.0.0.1:6379/15",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/15",
        }
    )
    return env


def run_with_production_settings(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production() -> dict[str, Any]:
    probe = run_with_production_settings("-c", PRODUCTION_PROBE)
    assert probe.returncode == 0, probe.stderr[-3000:]
    answer: dict[str, Any] = json.loads(probe.stdout.strip().splitlines()[-1])
    return answer


# --- production settings -----------------------------------------------------------------------------------


def test_check_deploy_is_clean_under_production_settings() -> None:
    checked = run_with_production_settings("manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "System check identified no issues" in checked.stdout, checked.stdout + checked.stderr


def test_production_sends_hsts_and_the_security_headers(production: dict[str, Any]) -> None:
    headers = production["api"]

    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert production["page"]["X-Frame-Options"] == "DENY"


def test_production_redirects_plain_http_to_https(production: dict[str, Any]) -> None:
    assert production["plain_status"] == 301
    assert production["plain_location"] == f"https://{PRODUCTION_HOST}/api/auth/me"


def test_production_cookies_are_secure_and_sessions_expire_when_idle(production: dict[str, Any]) -> None:
    assert (production["session_cookie_secure"], production["csrf_cookie_secure"]) == (True, True)
    assert production["session_cookie_httponly"] is True
    assert production["session_save_every_request"] is True
    assert 0 < production["session_cookie_age"] <= 60 * 60 * 12
    assert production["debug"] is False


def test_production_hashes_passwords_with_pbkdf2_or_argon2(production: dict[str, Any]) -> None:
    assert production["hashers"][0].rsplit(".", 1)[-1] in (
        "PBKDF2PasswordHasher",
        "Argon2PasswordHasher",
        "ScryptPasswordHasher",
    )


@pytest.mark.django_db
def test_a_registered_password_is_stored_with_the_production_hasher(production: dict[str, Any]) -> None:
    with override_settings(PASSWORD_HASHERS=production["hashers"]):
        response = Client().post(
            "/api/auth/register",
            {"username": "hashed", "email": "h@example.test", "password": PASSWORD},
            content_type="application/json",
        )
        stored = User.objects.get(username="hashed").password

    assert response.status_code == 201
    assert stored.startswith(("pbkdf2_sha256$", "argon2")), stored.split("$", 1)[0]
    assert PASSWORD not in stored


def test_production_keeps_the_drivers_command_log_off(production: dict[str, Any]) -> None:
    """pymongo logs whole commands (message text) at DEBUG; settings keep that logger at WARNING."""
    assert production["pymongo_log_level"] in ("WARNING", "ERROR", "CRITICAL")


# --- headers on every answer ------------------------------------------------------------------------


@pytest.mark.django_db(databases=["default", "chats"])
def test_every_chat_and_ehr_answer_is_no_store_with_the_security_headers(world: World) -> None:
    values = {**world.path_values(), "record_id": world.records["allergies"].pk}
    wrong = []
    for route in all_routes():
        if not route.pattern.startswith(
            ("api/chat", "api/conversation", "api/ehr", "api/audit", "api/auth/me")
        ):
            continue
        if "get" not in route.methods:
            continue
        user = world.clinician if route.pattern.startswith("api/ehr/patients") else world.alice
        response = client_for(user).get(route.url(values))
        body_of(response)
        headers = (
            response.get("Cache-Control"),
            response.get("X-Content-Type-Options"),
            response.get("X-Frame-Options"),
            response.get("Referrer-Policy"),
        )
        if headers != ("no-store", "nosniff", "DENY", "same-origin"):
            wrong.append((route.pattern, response.status_code, headers))
    assert wrong == []


@pytest.mark.django_db(databases=["default", "chats"])
def test_the_chat_page_and_streamed_replies_are_never_cached(world: World) -> None:
    browser = Client()
    browser.force_login(world.alice)
    streamed = client_for(world.alice).post("/api/chat/send?stream=true", {"message": "hi"}, format="json")
    body_of(streamed)

    assert "no-store" in browser.get("/")["Cache-Control"]
    assert streamed["Cache-Control"] == "no-store"


# --- sessions and tokens ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idle_session_expires_and_each_request_extends_it() -> None:
    User.objects.create_user("idle", password=PASSWORD)
    browser = Client()
    assert browser.post("/login/", {"username": "idle", "password": PASSWORD}).status_code == 302
    key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=60))

    assert browser.get("/").status_code == 200
    extended = Session.objects.get(session_key=key).expire_date
    assert extended > timezone.now() + timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)

    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert browser.get("/")["Location"].startswith("/login/")
    assert browser.get("/api/chat/sessions").status_code in (401, 403)


@pytest.mark.django_db(databases=["default", "chats"])
def test_a_revoked_token_opens_nothing(world: World) -> None:
    client = token_client(world.alice)
    routes = [
        "/api/auth/me",
        "/api/chat/sessions",
        f"/api/chat/sessions/{world.session.session_id}",
        "/api/ehr/me",
        "/api/audit/me",
    ]
    assert [client.get(url).status_code for url in routes] == [200] * len(routes)

    assert client.post("/api/auth/logout").status_code == 204

    assert not ApiToken.objects.filter(user=world.alice).exists()
    assert [client.get(url).status_code for url in routes] == [401] * len(routes)


# --- no PHI in logs ---------------------------------------------------------------------------------

CHAT_SECRET = "Xylophage-7731 burning toenail"
VOTE_SECRET = "Quokka-Remorse"
EHR_SECRETS = {
    "substance": "Zanthoxylin-Allergen",
    "reaction": "ultramarine wheals",
    "description": "Cryptic pallor syndrome",
    "notes": "Confidential ward note 4471",
    "name": "Obscurofen",
}


@pytest.fixture
def every_log_record(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[logging.LogRecord]]:
    """Every record any logger emits at DEBUG and above (root, django.request, django.db.backends,
    the apps), whether it propagates or not. pymongo keeps its configured level (see above)."""
    records: list[logging.LogRecord] = []
    original = logging.Logger.callHandlers

    def capture(self: logging.Logger, record: logging.LogRecord) -> None:
        records.append(record)
        original(self, record)

    loggers = [
        logging.getLogger(),
        *[logging.getLogger(name) for name in list(logging.root.manager.loggerDict)],
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        if not logger.name.startswith("pymongo"):
            logger.setLevel(logging.DEBUG)
    for name in (
        "django",
        "django.request",
        "django.db.backends",
        "django.security",
        "chats",
        "ehr",
        "audit",
    ):
        logging.getLogger(name).setLevel(logging.DEBUG)
    monkeypatch.setattr(logging.Logger, "callHandlers", capture)
    yield records
    for logger, level in levels.items():
        logger.setLevel(level)


def leaks_in(records: list[logging.LogRecord], secrets_: list[str]) -> list[tuple[str, str]]:
    found = []
    for record in records:
        text = " ".join(
            [
                record.getMessage(),
                repr(record.args),
                repr(record.__dict__),
                logging.Formatter().formatException(record.exc_info) if record.exc_info else "",
            ]
        )
        found += [(record.name, secret) for secret in secrets_ if secret.lower() in text.lower()]
    return found


@pytest.mark.django_db(databases=["default", "chats"])
def test_a_chat_flow_logs_no_message_text(world: World, every_log_record: list[logging.LogRecord]) -> None:
    alice = token_client(world.alice)
    sent = alice.post("/api/chat/send", {"message": CHAT_SECRET}, format="json").json()
    session_id = sent["session_id"]
    body_of(
        alice.post(
            "/api/chat/send?stream=true", {"message": CHAT_SECRET, "session_id": session_id}, format="json"
        )
    )
    alice.post("/api/chat/send", {"message": CHAT_SECRET + "\x00", "session_id": session_id}, format="json")
    alice.get("/api/chat/search", {"q": "Xylophage-7731"})
    alice.get(f"/api/chat/sessions/{session_id}/messages")
    body_of(alice.get(f"/api/chat/sessions/{session_id}/export?format=md"))
    body_of(alice.get("/api/chat/export"))
    alice.post(
        f"/api/chat/messages/{sent['assistant_message']['message_id']}/vote",
        {"vote_type": "down", "reason": VOTE_SECRET},
        format="json",
    )
    client_for(world.bob).get(f"/api/chat/sessions/{session_id}")
    client_for(world.staff).get("/api/admin/latest-chats")

    assert len(every_log_record) > 0
    assert leaks_in(every_log_record, [CHAT_SECRET, "Xylophage", VOTE_SECRET]) == []


@pytest.mark.django_db(databases=["default", "chats"])
def test_an_ehr_flow_logs_no_clinical_values(world: World, every_log_record: list[logging.LogRecord]) -> None:
    doctor = client_for(world.clinician)
    base = f"/api/ehr/patients/{world.profile.pk}"
    allergy = doctor.post(
        f"{base}/allergies/",
        {"substance": EHR_SECRETS["substance"], "reaction": EHR_SECRETS["reaction"]},
        format="json",
    ).json()
    doctor.post(
        f"{base}/conditions/",
        {"icd10_code": "L98.8", "description": EHR_SECRETS["description"]},
        format="json",
    )
    doctor.post(
        f"{base}/conditions/",
        {"icd10_code": "bad!", "description": EHR_SECRETS["description"]},
        format="json",
    )
    doctor.post(
        f"{base}/encounters/",
        {"date": "2025-01-01", "type": "outpatient", "notes": EHR_SECRETS["notes"]},
        format="json",
    )
    doctor.post(
        f"{base}/medications/",
        {"name": EHR_SECRETS["name"], "dose": "5 mg", "frequency": "daily", "start_date": "2024-01-01"},
        format="json",
    )
    doctor.patch(
        f"{base}/allergies/{allergy['id']}/", {"reaction": EHR_SECRETS["reaction"] + " again"}, format="json"
    )
    doctor.get(f"{base}/")
    doctor.get(f"{base}/allergies/", {"substance": EHR_SECRETS["substance"]})
    client_for(world.alice).get("/api/ehr/me")
    client_for(world.outsider_clinician).get(f"{base}/allergies/")
    client_for(world.alice).post("/api/chat/send", {"message": "Am I allergic to anything?"}, format="json")
    doctor.delete(f"{base}/allergies/{allergy['id']}/")

    assert len(every_log_record) > 0
    assert (
        leaks_in(every_log_record, [*EHR_SECRETS.values(), "Alicemycin", "violet rash", "Alice secret note"])
        == []
    )


@pytest.mark.django_db(databases=["default", "chats"])
def test_an_admin_flow_logs_no_message_text_or_clinical_values(
    world: World, every_log_record: list[logging.LogRecord]
) -> None:
    superuser = User.objects.create_superuser("root-logs", "root@example.test", PASSWORD)
    browser = Client()
    browser.force_login(superuser)
    pages = [
        f"/admin/chats/chatsession/{world.session.pk}/change/",
        f"/admin/chats/chatmessage/{world.question.pk}/change/",
        "/admin/chats/chatsession/?q=quetiapine",
        "/admin/chats/chatmessage/?q=grapefruit",
        f"/admin/ehr/patientprofile/{world.profile.pk}/change/",
        "/admin/ehr/patientprofile/?q=alice",
    ]

    assert [browser.get(url).status_code for url in pages] == [200] * len(pages)
    assert (
        leaks_in(
            every_log_record,
            ["quetiapine", "grapefruit", "Alicebrand", "Alicemycin", "violet rash", "Alice secret note"],
        )
        == []
    )
