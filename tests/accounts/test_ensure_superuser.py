"""The first admin of a Docker deployment: created once from the environment, never changed after."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from accounts.management.commands.ensure_superuser import ensure_superuser
from accounts.models import User

pytestmark = pytest.mark.django_db(databases=["default"])

PASSWORD = "a-long-admin-passphrase-42"


def test_a_missing_admin_is_created_and_can_sign_in() -> None:
    assert ensure_superuser(username="admin", password=PASSWORD, email="ops@example.test")
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    assert admin.check_password(PASSWORD)


def test_an_existing_admin_keeps_its_password() -> None:
    ensure_superuser(username="admin", password=PASSWORD)
    assert not ensure_superuser(username="admin", password="another-long-passphrase-77")
    assert User.objects.get(username="admin").check_password(PASSWORD)


def test_a_weak_password_is_refused() -> None:
    with pytest.raises(CommandError, match="too weak"):
        ensure_superuser(username="admin", password="admin")
    assert not User.objects.filter(username="admin").exists()


def test_the_command_without_a_username_creates_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    call_command("ensure_superuser")
    assert not User.objects.filter(is_superuser=True).exists()
