"""/api/chat/health tells the truth: a write probe with a deadline, the relational engine by name,
degraded when the outbox grows, rate-limited, and never enqueueing a task per request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from chats import health, store
from chats.outbox import services as outbox

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _health() -> Any:
    return APIClient().get("/api/chat/health")


def _queue_one() -> None:
    outbox.enqueue_message(
        user_id=1,
        session_id=str(uuid.uuid4()),
        message_id=str(uuid.uuid4()),
        role="user",
        content="queued",
        created_at=timezone.now(),
    )


def test_the_relational_store_is_named_by_its_engine() -> None:
    body = _health().json()

    assert (body["relational"], body["relational_engine"]) == ("ok", connections["default"].vendor)
    assert "mysql" not in body or connections["default"].vendor == "mysql"


def test_health_is_ok_when_writes_go_through() -> None:
    body = _health().json()

    assert body["mongodb"] == "ok"
    assert "mongodb" not in body["degraded"]
    assert store.database()[health.PROBE_COLLECTION].count_documents({"_id": "probe"}) == 1


def test_a_write_held_by_an_open_transaction_is_reported_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "PROBE_SECONDS", 0.5)
    probes = store.database()[health.PROBE_COLLECTION]
    probes.update_one({"_id": "probe"}, {"$set": {"at": timezone.now()}}, upsert=True)
    client = store.database().client
    with client.start_session() as blocker:
        blocker.start_transaction()
        probes.update_one({"_id": "probe"}, {"$set": {"held": True}}, session=blocker)
        try:
            response = _health()
        finally:
            blocker.abort_transaction()

    assert response.status_code == 200
    assert (response.json()["mongodb"], response.json()["status"]) == ("writes stuck", "degraded")
    assert "mongodb" in response.json()["degraded"]


@override_settings(HEALTH_OUTBOX_DEGRADED_DEPTH=2)
def test_a_growing_outbox_is_degraded() -> None:
    _queue_one()
    below = _health().json()
    _queue_one()

    above = _health().json()

    assert "outbox" not in below["degraded"]
    assert ("outbox" in above["degraded"], above["status"], above["outbox_depth"]) == (True, "degraded", 2)


def test_many_health_requests_enqueue_the_outbox_sync_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from chats import tasks

    enqueued: list[int] = []
    monkeypatch.setattr(tasks.sync_outbox, "apply_async", lambda **kwargs: enqueued.append(1))
    _queue_one()

    for _ in range(20):
        _health()

    assert len(enqueued) == 1


def test_health_requests_are_rate_limited() -> None:
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "health": "3/min"}
    with override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}):
        statuses = [_health().status_code for _ in range(4)]

    assert statuses[:3] != [429] * 3
    assert statuses[3] == 429


@override_settings(HEALTH_CACHE_SECONDS=60)
def test_a_report_is_reused_within_the_cache_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "_last_report", None)
    calls: list[int] = []
    original = health._compute

    def counted() -> dict[str, Any]:
        calls.append(1)
        return original()

    monkeypatch.setattr(health, "_compute", counted)

    for _ in range(5):
        health.check_all()

    assert len(calls) == 1
