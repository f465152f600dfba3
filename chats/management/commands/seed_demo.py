"""Create (or refresh) the demo logins, demo patients' records and conversations, and print the logins."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from pymongo.errors import PyMongoError

from accounts import services
from accounts.models import User
from chats.demo import ensure_demo_conversations
from ehr import demo


class Command(BaseCommand):
    help = (
        "Create the demo staff, clinician and patient accounts, the patients' EHR records and a few "
        "conversations (idempotent), and print the logins."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        password = _demo_password()
        accounts = services.ensure_demo_accounts(password=password)
        patients = demo.ensure_demo_patients(password=password)
        clinician = next(account for account in accounts if account.role == User.Role.CLINICIAN)
        demo.ensure_demo_records(clinician=clinician)
        for account in [*accounts, *(p for p in patients if p.pk not in {a.pk for a in accounts})]:
            self.stdout.write(
                self.style.SUCCESS(f"demo login: {account.username} / {password}  (role: {account.role})")
            )
        try:
            count = ensure_demo_conversations(users=patients)
        except PyMongoError as exc:
            self.stderr.write(
                f"chat store unavailable ({exc.__class__.__name__}): demo conversations skipped"
            )
        else:
            self.stdout.write(f"demo conversations: {count}")
        self.stdout.write("admin: http://127.0.0.1:8000/admin/   API docs: http://127.0.0.1:8000/api/docs/")


def _demo_password() -> str:
    """Stable across restarts of one checkout (kept in var/), random per checkout."""
    path = Path(settings.VAR_DIR) / "demo-password.txt"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    path.write_text(password)
    path.chmod(0o600)
    return password
