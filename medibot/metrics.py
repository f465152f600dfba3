"""Prometheus metrics of every Medibot process, and the protected ``/metrics`` endpoint.

This module imports no app: apps call the ``record_*`` functions (one line at the place where the
thing happens) and register scrape-time gauges with ``register_scrape_source`` from their
``AppConfig.ready()``. With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn with several workers, the
Celery prefork pool) every process writes its samples there and one scrape adds them up.

Access (``docs/OPERATIONS.md``): ``METRICS_TOKEN`` as ``Authorization: Bearer <token>``, or a client
address in ``METRICS_ALLOWED_IPS``; with neither configured ``/metrics`` answers 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
TASK_BUCKETS = (0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0)

http_request_duration = Histogram(
    "medibot_http_request_duration_seconds",
    "Time to answer an HTTP request (streamed replies: until the response object is returned).",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
chat_turns = Counter(
    "medibot_chat_turns", "Chat turns by outcome: stored, queued (outbox) or failed (provider).", ["outcome"]
)
outbox_deliveries = Counter("medibot_outbox_deliveries", "Outbox entries delivered to MongoDB.")
outbox_failures = Counter(
    "medibot_outbox_failures", "Outbox delivery attempts that failed (gave_up: marked failed).", ["gave_up"]
)
celery_task_runs = Counter("medibot_celery_task_runs", "Celery task runs by final state.", ["task", "state"])
celery_task_duration = Histogram(
    "medibot_celery_task_duration_seconds", "Celery task run time.", ["task"], buckets=TASK_BUCKETS
)
migration_rows = Counter("medibot_migrate_chats_rows", "Legacy rows read by migrate_chats.", ["source"])
migration_seconds = Counter(
    "medibot_migrate_chats_seconds", "Time migrate_chats spent reading those rows.", ["source"]
)
store_errors = Counter(
    "medibot_store_errors",
    "Errors talking to a store (mongodb, mysql) by exception class.",
    ["store", "error"],
)

CHAT_TURN_OUTCOMES = ("stored", "queued", "failed")


def record_chat_turn(outcome: str) -> None:
    """One chat turn ended: ``stored``, ``queued`` (outbox) or ``failed`` (the provider failed)."""
    chat_turns.labels(outcome=outcome).inc()


def record_outbox_delivery() -> None:
    outbox_deliveries.inc()


def record_outbox_failure(*, gave_up: bool) -> None:
    outbox_failures.labels(gave_up=str(gave_up).lower()).inc()


def record_migration_progress(*, source: str, rows: int, seconds: float) -> None:
    """Rows per second of a migration = rate(rows) / rate(seconds), or the two totals divided."""
    migration_rows.labels(source=source).inc(rows)
    migration_seconds.labels(source=source).inc(max(seconds, 0.0))


def record_store_error(*, store: str, error: BaseException | str) -> None:
    name = error if isinstance(error, str) else error.__class__.__name__
    store_errors.labels(store=store, error=name).inc()


# --- Celery (connected in medibot.celery) ---------------------------------------------------------
_task_started: dict[str, float] = {}


def task_started(*, task_id: str | None) -> None:
    if task_id:
        _task_started[task_id] = time.monotonic()


def task_finished(*, task_id: str | None, task_name: str, state: str) -> None:
    started = _task_started.pop(task_id, None) if task_id else None
    celery_task_runs.labels(task=task_name, state=state).inc()
    if started is not None:
        celery_task_duration.labels(task=task_name).observe(time.monotonic() - started)


# --- Scrape-time gauges (outbox depth and age, ...) ----------------------------------------------
ScrapeSource = Callable[[], Iterable[Metric]]
_scrape_sources: dict[str, ScrapeSource] = {}


def register_scrape_source(name: str, source: ScrapeSource) -> None:
    """``source()`` is called on each scrape of /metrics (in the web process only)."""
    _scrape_sources[name] = source


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class ScrapeTimeCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        for name, source in list(_scrape_sources.items()):
            try:
                yield from source()
            except Exception as exc:  # a store being down must not hide every other metric
                record_store_error(store=name, error=exc)
                error = exc.__class__.__name__
                logger.warning("metrics source failed", extra={"source": name, "error": error})


def registry() -> CollectorRegistry:
    """The samples of every process (multiprocess mode) or of this one, plus the scrape-time gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined)
    else:
        combined = REGISTRY
    return combined


def exposition() -> bytes:
    combined = registry()
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ScrapeTimeCollector())
    return generate_latest(combined) + generate_latest(scrape)


# --- HTTP ------------------------------------------------------------------------------------------
def _client_allowed(request: HttpRequest) -> bool:
    token: str = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
            return True
    networks: list[str] = settings.METRICS_ALLOWED_IPS
    if networks:
        try:
            address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
    return False


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` in Prometheus text format, for the token or the allowed networks only."""
    if not settings.METRICS_TOKEN and not settings.METRICS_ALLOWED_IPS:
        return HttpResponse("metrics are disabled (set METRICS_TOKEN or METRICS_ALLOWED_IPS)\n", status=404)
    if not _client_allowed(request):
        response = HttpResponse("metrics need a bearer token or an allowed address\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


class RequestMetricsMiddleware:
    """Latency histogram per route pattern (never the raw path: ids would explode the label set)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.monotonic()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = str(match.route) if match is not None and match.route else "unmatched"
        http_request_duration.labels(
            method=request.method or "", route=route, status=f"{response.status_code // 100}xx"
        ).observe(time.monotonic() - started)
        return response

