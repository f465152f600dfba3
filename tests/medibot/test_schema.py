"""The OpenAPI schema validates without warnings and covers every API route."""

from __future__ import annotations

import io
from typing import Any, cast

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
        elif route.startswith("api/") and not route.startswith(("api/schema", "api/docs", "api/redoc")):
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


def _schema() -> dict[str, Any]:
    out = io.StringIO()
    call_command("spectacular", stdout=out)
    return cast(dict[str, Any], yaml.safe_load(out.getvalue()))


@pytest.mark.django_db
def test_every_operation_has_exactly_one_resource_tag() -> None:
    for path, operations in _schema()["paths"].items():
        for method, operation in operations.items():
            assert len(operation["tags"]) == 1, (method, path, operation["tags"])
            assert operation["tags"][0][0].isupper(), (method, path)


@pytest.mark.django_db
def test_alias_routes_name_their_canonical_route_and_share_its_tag() -> None:
    paths = _schema()["paths"]
    alias = paths["/api/conversation/{session_id}"]["get"]
    assert alias["x-alias-of"] == "/api/chat/sessions/{session_id}"
    assert alias["summary"] == "Alias of GET /api/chat/sessions/{session_id}"
    assert alias["tags"] == paths["/api/chat/sessions/{session_id}"]["get"]["tags"]
    assert paths["/api/chat"]["post"]["x-alias-of"] == "/api/chat/send"
    assert "x-alias-of" not in paths["/api/chat/send"]["post"]


@pytest.mark.django_db
def test_the_streamed_reply_documents_its_event_shapes() -> None:
    schema = _schema()
    streamed = schema["paths"]["/api/chat/send"]["post"]["responses"]["200"]["content"]["text/event-stream"]
    names = {ref["$ref"].rsplit("/", 1)[1] for ref in streamed["schema"]["oneOf"]}
    assert names == {"ChatStreamTokenEvent", "ChatStreamDoneEvent", "ChatStreamErrorEvent"}
    done = schema["components"]["schemas"]["ChatStreamDoneEvent"]
    assert "assistant_message_id" in done["required"]
