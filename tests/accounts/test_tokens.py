"""API tokens: stored hashed, revoked on logout and by every kind of password change, expiring."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import make_user

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-staple"
NEW_PASSWORD = "another-long-passphrase-42"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _login(user: User) -> str:
    credentials = {"username": user.username, "password": PASSWORD}
    response = APIClient().post("/api/auth/token", credentials, format="json")
    assert response.status_code == 200
    return str(response.json()["token"])


def _me_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return int(client.get("/api/auth/me").status_code)


def _stored_text() -> str:
    """Every cell of every table on ``default``, as one string."""
    cells: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            # Table names come from introspection, never from input.
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608  # nosec B608
            cells.extend(str(cell) for row in cursor.fetchall() for cell in row)
    return "\n".join(cells)


def test_token_key_is_never_stored_in_plain_text() -> None:
    key = _login(make_user(username="hashed"))

    assert key not in _stored_text()
    assert _me_status(key) == 200


def test_set_password_and_save_in_code_revokes_tokens() -> None:
    user = make_user(username="incode")
    key = _login(user)

    user.set_password(NEW_PASSWORD)
    user.save()

    assert _me_status(key) == 401


def test_password_changed_by_a_queryset_update_revokes_tokens() -> None:
    user = make_user(username="rawupdate")
    key = _login(user)
    other = User(username="x")
    other.set_password(NEW_PASSWORD)

    User.objects.filter(pk=user.pk).update(password=other.password)

    assert _me_status(key) == 401


def test_changepassword_command_revokes_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    user = make_user(username="bycommand")
    key = _login(user)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    call_command("changepassword", user.username)

    assert _me_status(key) == 401


def test_password_change_in_the_admin_revokes_tokens() -> None:
    user = make_user(username="byadmin")
    key = _login(user)
    admin_client = Client()
    admin_client.force_login(make_user(username="root", is_staff=True, is_superuser=True))

    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    assert _me_status(key) == 401


def test_other_users_tokens_survive_a_password_change() -> None:
    user, bystander = make_user(username="changes"), make_user(username="bystander")
    bystander_key = _login(bystander)
    _login(user)

    user.set_password(NEW_PASSWORD)
    user.save()

    assert _me_status(bystander_key) == 200


def test_a_token_issued_after_the_change_works() -> None:
    user = make_user(username="relogin")
    user.set_password(PASSWORD)
    user.save()

    assert _me_status(_login(user)) == 200


@override_settings(AUTH_TOKEN_TTL_HOURS=1)
def test_token_expires_after_the_configured_ttl(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.utils import timezone

    key = _login(make_user(username="expiring"))
    later = timezone.now() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(timezone, "now", lambda: later)

    assert _me_status(key) == 401


@override_settings(AUTH_TOKEN_TTL_HOURS=1)
def test_token_works_before_its_ttl() -> None:
    assert _me_status(_login(make_user(username="fresh"))) == 200


def test_token_admin_is_not_reachable_for_staff() -> None:
    admin_client = Client()
    admin_client.force_login(make_user(username="root", is_staff=True, is_superuser=True))
    key = _login(make_user(username="victim"))

    index = admin_client.get("/admin/")
    listing = admin_client.get("/admin/authtoken/tokenproxy/")

    assert key not in index.content.decode()
    assert listing.status_code == 404
