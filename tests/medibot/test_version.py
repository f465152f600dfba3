"""One release number: medibot.__version__, pyproject.toml, the changelog and /api/chat/health."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from rest_framework.test import APIClient

import medibot

ROOT = Path(__file__).resolve().parents[2]


def test_package_and_pyproject_name_the_same_release() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == medibot.__version__


def test_the_changelog_has_a_section_for_the_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{medibot.__version__}]" in changelog
    assert "## [Unreleased]" in changelog


@pytest.mark.django_db(databases=["default", "chats"])
def test_health_reports_the_running_release() -> None:
    assert APIClient().get("/api/chat/health").json()["version"] == medibot.__version__
