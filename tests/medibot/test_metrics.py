"""/metrics: Prometheus text for the token or the allowed networks only, with the operating metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient

from chats.outbox.models import OutboxEntry
from medibot.celery import app as celery_app
from tests.factories import make_user

TOKEN = "metrics-test-token-0123456789"
FAMILIES = [
    "medibot_http_request_duration_seconds",
    "medibot_chat_turns",
    "medibot_outbox_depth",
    "medibot_outbox_oldest_age_seconds",
    "medibot_outbox_failed",
    "medibot_outbox_deliveries",
    "medibot_outbox_failures",
    "medibot_celery_task_runs",
    "medibot_celery_task_duration_seconds",
    "medibot_migrate_chats_rows",
    "medibot_migrate_chats_seconds",
    "medibot_store_errors",
]


@celery_app.task(name="tests.medibot.metrics_noop")
def noop() -> int:
    return 1


@pytest.fixture
def token(settings: SettingsWrapper) -> str:
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    return TOKEN


def scrape(client: Client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db(databases=["default"])
def test_metrics_are_off_until_a_token_or_network_is_configured(client: Client) -> None:
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db(databases=["default"])
def test_anonymous_and_wrong_token_scrapes_are_refused(client: Client, token: str) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


@pytest.mark.django_db(databases=["default"])
def test_an_allowed_network_scrapes_without_a_token(client: Client, settings: SettingsWrapper) -> None:
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.9").status_code == 401


@pytest.mark.django_db(databases=["default"])
def test_every_metric_family_is_exposed(client: Client, token: str) -> None:
    text = scrape(client)
    for family in FAMILIES:
        assert f"# HELP {family}" in text, family


@pytest.mark.django_db(databases=["default", "chats"])
def test_a_stored_chat_turn_counts_and_its_latency_is_labelled_by_route(token: str) -> None:
    stored_before = sample("medibot_chat_turns_total", outcome="stored")
    route_before = sample(
        "medibot_http_request_duration_seconds_count", method="POST", route="api/chat/send", status="2xx"
    )
    client = APIClient()
    client.force_authenticate(make_user(username="metered"))
    assert client.post("/api/chat/send", {"message": "hello"}, format="json").status_code == 201
    assert sample("medibot_chat_turns_total", outcome="stored") == stored_before + 1
    route_after = sample(
        "medibot_http_request_duration_seconds_count", method="POST", route="api/chat/send", status="2xx"
    )
    assert route_after == route_before + 1


@pytest.mark.django_db(databases=["default"])
def test_outbox_depth_and_oldest_age_are_read_at_scrape_time(client: Client, token: str) -> None:
    OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.MESSAGE,
        user_id=1,
        session_id="s",
        object_id="m",
        payload={},
        created_at=timezone.now() - timedelta(minutes=5),
    )
    lines = dict(
        line.rsplit(" ", 1) for line in scrape(client).splitlines() if line and not line.startswith("#")
    )
    assert float(lines["medibot_outbox_depth"]) == 1
    assert 300 <= float(lines["medibot_outbox_oldest_age_seconds"]) < 400


def test_celery_task_runs_and_durations_are_counted_per_task() -> None:
    labels = {"task": "tests.medibot.metrics_noop", "state": "SUCCESS"}
    before = sample("medibot_celery_task_runs_total", **labels)
    noop.apply()
    assert sample("medibot_celery_task_runs_total", **labels) == before + 1
    assert sample("medibot_celery_task_duration_seconds_count", task=labels["task"]) >= 1


@pytest.mark.django_db(databases=["default"])
def test_a_failed_sql_statement_counts_as_a_store_error() -> None:
    def errors_of_this_store() -> float:
        return sum(
            sample.value
            for family in REGISTRY.collect()
            if family.name == "medibot_store_errors"
            for sample in family.samples
            if sample.name.endswith("_total") and sample.labels.get("store") == connection.vendor
        )

    before = errors_of_this_store()
    with pytest.raises(DatabaseError), connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table_for_metrics")
    assert errors_of_this_store() == before + 1
