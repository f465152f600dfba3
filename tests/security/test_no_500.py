"""No input is a 500: lone surrogates, numbers beyond int64, crafted cursors, dates at the edge of
the calendar, unknown API paths and oversized bodies all get a JSON 4xx; arbitrary JSON thrown at
every write endpoint gets 2xx or 4xx only (Hypothesis)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import World, client_for
from tests.security.routes import all_routes

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

HUGE = 10**30


def raw(client: Any, method: str, url: str, text: str | bytes, content_type: str = "application/json") -> Any:
    return client.generic(method.upper(), url, text, content_type=content_type)


def is_json_error(response: Any, status: int) -> bool:
    return response.status_code == status and response["Content-Type"].startswith("application/json")


# --- the JSON parser refuses what no field can store ----------------------------------------------------

SURROGATE_BODIES = [
    ("/api/chat/sessions", r'{"metadata": {"\ud800": 1}}'),
    ("/api/chat/sessions", r'{"metadata": {"k": "\udfff"}}'),
    ("/api/chat/sessions", r'{"\ud800": 1}'),
    ("/api/chat/sessions", r'{"session_type": "\ud800"}'),
    ("/api/chat/messages/{message_id}/vote", r'{"vote_type": "\ud800"}'),
    ("/api/chat/send", r'{"message": "hi", "metadata": {"x": ["\ud83d"]}}'),
]


@pytest.mark.parametrize(("url", "document"), SURROGATE_BODIES)
def test_lone_surrogates_anywhere_in_a_body_are_400(world: World, url: str, document: str) -> None:
    response = raw(client_for(world.alice), "post", url.format(**world.path_values()), document)

    assert is_json_error(response, 400)


def test_lone_surrogate_in_an_ehr_choice_field_is_400(world: World) -> None:
    url = f"/api/ehr/patients/{world.profile.pk}/"

    response = raw(client_for(world.clinician), "patch", url, r'{"sex": "\ud800"}')

    assert is_json_error(response, 400)


@pytest.mark.parametrize(
    "document",
    [
        json.dumps({"metadata": {"n": HUGE}}),
        json.dumps({"metadata": {"n": -HUGE}}),
        json.dumps({"metadata": {"n": [2**63]}}),
        '{"metadata": {"n": 1e400}}',
    ],
)
def test_numbers_beyond_int64_or_infinite_are_400(world: World, document: str) -> None:
    response = raw(client_for(world.alice), "post", "/api/chat/sessions", document)

    assert is_json_error(response, 400)


def test_int64_bounds_themselves_are_accepted(world: World) -> None:
    document = json.dumps({"metadata": {"low": -(2**63), "high": 2**63 - 1}})

    response = raw(client_for(world.alice), "post", "/api/chat/sessions", document)

    assert response.status_code == 201


# --- query strings --------------------------------------------------------------------------------------


def _cursor(parts: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


@pytest.mark.parametrize(
    "parts",
    [
        [False, "0001-01-01T00:00:00", "000000000000000000000000"],
        [True, "9999-12-31T23:59:59-14:00", "000000000000000000000000"],
        [False, "0001-01-01T00:00:00+14:00", "000000000000000000000000"],
    ],
)
def test_crafted_session_cursor_at_the_calendar_edge_is_400(world: World, parts: list[Any]) -> None:
    response = client_for(world.alice).get("/api/chat/sessions", {"cursor": _cursor(parts)})

    assert is_json_error(response, 400)


@pytest.mark.parametrize(
    "query",
    [
        {"taken_after": "0001-01-01T00:00:00+14:00"},
        {"taken_before": "9999-12-31T23:59:59-14:00"},
    ],
)
def test_ehr_date_filters_at_the_calendar_edge_are_400(world: World, query: dict[str, str]) -> None:
    url = f"/api/ehr/patients/{world.profile.pk}/observations/"

    response = client_for(world.clinician).get(url, query)

    assert is_json_error(response, 400)


# --- every /api/ path answers JSON ----------------------------------------------------------------------


def test_unknown_api_path_is_a_json_404(world: World) -> None:
    response = client_for(world.alice).get("/api/no/such/thing")

    assert is_json_error(response, 404)
    assert response.json() == {"detail": "Not found."}


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversized_body_is_a_json_413(world: World) -> None:
    document = json.dumps({"message": "x" * 4096})

    response = raw(client_for(world.alice), "post", "/api/chat/send", document)

    assert is_json_error(response, 413)


def test_wrong_method_and_content_type_are_json(world: World) -> None:
    caller = client_for(world.alice)

    assert is_json_error(caller.delete("/api/chat/send"), 405)
    assert is_json_error(raw(caller, "post", "/api/chat/send", "message=hi", "text/plain"), 415)


# --- arbitrary JSON at every write endpoint ---------------------------------------------------------------

KNOWN_KEYS = [
    "message", "session_id", "conversation_id", "title", "session_type", "metadata", "tags",
    "is_archived", "is_pinned", "vote_type", "reason", "username", "password", "email", "substance",
    "severity", "sex", "blood_type", "date_of_birth", "name", "dosage", "code", "value", "unit",
    "taken_at", "start_date", "end_date", "date", "type", "days_old", "dry_run", "user_id",
]  # fmt: skip
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=12)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), ANY_TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), ANY_TEXT), inner, max_size=4),
    ),
    max_leaves=12,
)
BODIES = st.one_of(
    st.dictionaries(st.one_of(st.sampled_from(KNOWN_KEYS), ANY_TEXT), JSON_VALUES, max_size=6), JSON_VALUES
)


def _write_routes() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for route in all_routes():
        if route.is_api and route.pattern not in ("api/auth/logout",):
            found.extend(
                (method, route.pattern) for method in ("post", "put", "patch") if method in route.methods
            )
    return found


@pytest.mark.parametrize(("method", "pattern"), _write_routes(), ids=lambda v: str(v))
def test_arbitrary_json_at_a_write_endpoint_is_never_a_5xx(world: World, method: str, pattern: str) -> None:
    route = next(route for route in all_routes() if route.pattern == pattern)
    url = route.url({**world.path_values(), "record_id": 1, "pk": 1})
    caller = client_for(
        world.staff
        if "admin" in pattern or "cleanup" in pattern or "sync" in pattern
        else world.clinician
        if "/ehr/" in url
        else world.alice
    )

    @settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(body=BODIES)
    def check(body: Any) -> None:
        response = raw(caller, method, url, json.dumps(body))
        assert response.status_code < 500, (response.status_code, body)

    with override_settings(AUTH_LOGIN_FAILURE_RATE="100000/min", CHAT_SEND_RATE="100000/min"):
        check()
