"""``manage.py ensure_superuser``: the first admin of a new deployment, from the environment.

Reads ``DJANGO_SUPERUSER_USERNAME``, ``DJANGO_SUPERUSER_PASSWORD`` and ``DJANGO_SUPERUSER_EMAIL``
(the variables of Django's ``createsuperuser --noinput``). Creates the account when it is missing;
an existing account is left exactly as it is (its password is never reset), so the compose
recipe can run it on every start.
"""

from __future__ import annotations

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


def ensure_superuser(*, username: str, password: str, email: str = "") -> bool:
    """Creates the superuser unless an account of that name exists; True when it was created."""
    users = get_user_model()
    if users.objects.filter(username=username).exists():
        return False
    candidate = users(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise CommandError(f"DJANGO_SUPERUSER_PASSWORD is too weak: {' '.join(exc.messages)}") from exc
    users.objects.create_superuser(username=username, email=email, password=password)
    return True


class Command(BaseCommand):
    help = "Create the first admin from DJANGO_SUPERUSER_USERNAME/_PASSWORD/_EMAIL unless it exists."

    def handle(self, *args: Any, **options: Any) -> None:
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if not username:
            self.stdout.write("DJANGO_SUPERUSER_USERNAME is not set: no admin created")
            return
        if not password:
            raise CommandError("DJANGO_SUPERUSER_USERNAME is set but DJANGO_SUPERUSER_PASSWORD is not")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        if ensure_superuser(username=username, password=password, email=email):
            self.stdout.write(f"admin {username!r} created: sign in at /admin/")
        else:
            self.stdout.write(f"admin {username!r} already exists: left unchanged")
