"""Check the audit trail's hash chain; exit 1 naming the first broken link."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit import selectors


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain and report the first broken link (exit status 1)."

    def handle(self, *args: Any, **options: Any) -> None:
        report = selectors.verify_chain()
        if report.broken is not None:
            raise CommandError(
                f"audit chain broken at event {report.broken.sequence}: {report.broken.reason}"
                f" ({report.checked} events verified before it)",
                returncode=1,
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events verified"))
