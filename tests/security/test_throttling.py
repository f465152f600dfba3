"""Per-user rate limits of chat sends and exports: over the per-minute budget the answer is a 429
with a JSON ``detail`` and ``Retry-After``, nothing is stored, and other users and reads go on.

The budgets are the throttle scopes ``chat_send`` and ``chat_export`` of
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``; the counters live in the cache, which the package's
autouse fixture clears around every test.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import LazySettings

from tests.security.conftest import World, body_of, chat_counts, client_for

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

SENDS_PER_MINUTE = 3
EXPORTS_PER_MINUTE = 2


@pytest.fixture(autouse=True)
def small_budgets(settings: LazySettings) -> None:
    framework: dict[str, Any] = dict(settings.REST_FRAMEWORK)
    framework["DEFAULT_THROTTLE_RATES"] = {
        **framework.get("DEFAULT_THROTTLE_RATES", {}),
        "chat_send": f"{SENDS_PER_MINUTE}/min",
        "chat_export": f"{EXPORTS_PER_MINUTE}/min",
    }
    settings.REST_FRAMEWORK = framework


def send(client: Any, route: str = "/api/chat/send", text: str = "hello") -> Any:
    response = client.post(route, {"message": text}, format="json")
    body_of(response)
    return response


def assert_throttled(response: Any) -> None:
    assert response.status_code == 429, (response.status_code, body_of(response)[:200])
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["detail"]
    assert int(response["Retry-After"]) > 0


def test_sends_over_the_per_minute_budget_are_429_and_store_nothing(world: World) -> None:
    bob = client_for(world.bob)
    assert [send(bob).status_code for _ in range(SENDS_PER_MINUTE)] == [201] * SENDS_PER_MINUTE
    counted = chat_counts(world.bob.pk)

    refused = send(bob, text="one too many")

    assert_throttled(refused)
    assert chat_counts(world.bob.pk) == counted


def test_both_send_routes_and_streaming_share_one_budget(world: World) -> None:
    bob = client_for(world.bob)
    answers = [
        send(bob, "/api/chat").status_code,
        send(bob, "/api/chat/send").status_code,
        send(bob, "/api/chat/send?stream=true").status_code,
    ]

    assert answers == [201, 201, 200]
    assert_throttled(send(bob, "/api/chat"))
    assert_throttled(send(bob, "/api/chat/send?stream=true"))


def test_the_send_budget_is_per_user(world: World) -> None:
    for _ in range(SENDS_PER_MINUTE):
        send(client_for(world.bob))
    assert_throttled(send(client_for(world.bob)))

    assert send(client_for(world.alice)).status_code == 201


def test_a_throttled_user_can_still_read_and_manage_conversations(world: World) -> None:
    bob = client_for(world.bob)
    for _ in range(SENDS_PER_MINUTE + 1):
        send(bob)

    assert bob.get("/api/chat/sessions").status_code == 200
    assert bob.get("/api/chat/search", {"q": "hello"}).status_code == 200
    assert bob.post("/api/chat/sessions", {"title": "still mine"}, format="json").status_code == 201


def test_exports_over_the_per_minute_budget_are_429(world: World) -> None:
    alice = client_for(world.alice)
    url = f"/api/chat/sessions/{world.session.session_id}/export"
    answers = [alice.get(url), alice.get("/api/chat/export")]
    assert [(a.status_code, bool(body_of(a))) for a in answers] == [(200, True)] * EXPORTS_PER_MINUTE

    assert_throttled(alice.get(url))
    assert_throttled(alice.get("/api/chat/export?format=zip"))


def test_the_export_budget_is_per_user_and_separate_from_sends(world: World) -> None:
    alice = client_for(world.alice)
    for _ in range(EXPORTS_PER_MINUTE + 1):
        body_of(alice.get("/api/chat/export"))

    assert client_for(world.bob).get("/api/chat/export").status_code == 200
    assert send(alice).status_code == 201


def test_the_budget_comes_back_after_the_window(world: World) -> None:
    from django.core.cache import cache

    bob = client_for(world.bob)
    for _ in range(SENDS_PER_MINUTE + 1):
        send(bob)
    cache.clear()  # the minute is over: the counters expire with it

    assert send(bob).status_code == 201
