"""Every model change ships with its migration (for MySQL tables and MongoDB collections/indexes)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db(databases="__all__")
def test_no_model_change_is_missing_a_migration() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exit_:  # makemigrations --check exits 1 when a migration is missing
        raise AssertionError(f"missing migrations:\n{out.getvalue()}") from exit_
    assert "No changes detected" in out.getvalue()
