"""The OpenAPI schema validates without warnings and covers every API route."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver


def _api_paths(patterns: list[URLPattern | URLResolver], prefix: str = "") -> set[str]:
    found: set[str] = set()
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found |= _api_paths(pattern.url_patterns, route)
        elif route.startswith("api/") and not route.startswith(("api/schema", "api/docs")):
            found.add("/" + route.replace("<str:", "{").replace("<int:", "{").replace(">", "}"))
    return found


@pytest.mark.django_db
def test_schema_validates_without_warnings_and_matches_the_routes() -> None:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    assert _api_paths(get_resolver().url_patterns) <= set(schema["paths"])


@pytest.mark.django_db
def test_schema_and_docs_are_served(client: object) -> None:
    from django.test import Client

    browser = Client()
    assert browser.get("/api/schema/").status_code == 200
    assert browser.get("/api/docs/").status_code == 200
