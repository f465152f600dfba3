"""Medibot project package."""

from .celery import app as celery_app

# The release (CHANGELOG.md); also in pyproject.toml and in GET /api/chat/health.
__version__ = "0.2.0"

__all__ = ["__version__", "celery_app"]
