"""Faults of the stores under a real server process, and a bounded load run on loopback.

- Redis (cache, throttles, broker) killed: chat sends still succeed, health says 503 naming redis,
  nothing hangs.
- MariaDB unreachable, cut or frozen under a running server: clear 503 JSON answers within a
  bound, never a 500 or a hang, and the server recovers when the store comes back.
- 20 concurrent clients for LOAD_SECONDS: no errors, every message the clients were told about is
  stored exactly once and nothing else is; the p95 latency is printed, not asserted.

The MariaDB and Redis services of the machine are never touched: the tests start their own Redis
and reach MariaDB through a proxy of their own.
"""

from __future__ import annotations

import io
import os
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from bson import Int64
from django.core.management import call_command
from django.db import connections

from chats import store
from chats.models import ChatMessage
from chats.outbox.models import OutboxEntry
from medibot.embedded import free_port
from tests.factories import make_user, token_for
from tests.security.conftest import CHAT_MODELS
from tests.security.faults import Answer, RedisServer, StoreProxy, call, gunicorn
from tests.support.processes import child_env, database_url, web_server

# The scenarios run once per module in fixtures (their user is committed there); the tests only read.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.real_services,
    pytest.mark.django_db(databases=["default", "chats"]),
]

PASSWORD = "correct-horse-battery-staple"  # tests.factories.UserFactory's
REQUEST_BOUND_SECONDS = 10.0  # generous: every request must answer well within this
LOAD_CLIENTS = 20
LOAD_SECONDS = float(os.environ.get("MEDIBOT_LOAD_SECONDS", "30"))


def mysql_only() -> None:
    if connections["default"].vendor != "mysql":
        pytest.skip("needs the MariaDB/MySQL 'default' (always present with CI=true)")


def database_url_via(port: int) -> str:
    """The test database's URL with its port replaced: through a proxy, or to where nothing listens."""
    config = connections["default"].settings_dict
    return database_url().replace(f":{config['PORT']}/", f":{port}/")


def is_clear_503(answer: Answer) -> bool:
    return answer.status == 503 and isinstance(answer.body, dict) and bool(answer.body.get("detail"))


@pytest.fixture(scope="module")
def outage_user(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[int, str]]:
    """A committed user and token the server processes can see (the scenarios run once per module)."""
    with django_db_blocker.unblock():
        user = make_user(username="faulty")
        token = token_for(user)
    yield user.pk, token
    with django_db_blocker.unblock():
        for model in CHAT_MODELS:
            store.collection(model).delete_many({"user_id": Int64(user.pk)})
        user.delete()


@pytest.fixture(scope="module")
def redis_outage(tmp_path_factory: pytest.TempPathFactory, outage_user: tuple[int, str]) -> dict[str, Answer]:
    """A server on a Redis of its own; the Redis is SIGKILLed after a first successful turn."""
    workdir = tmp_path_factory.mktemp("redis")
    redis_server = RedisServer(workdir)
    _, token = outage_user
    env = child_env(
        REDIS_URL=redis_server.url, CELERY_BROKER_URL=redis_server.url, CELERY_RESULT_BACKEND=redis_server.url
    )
    server, base = web_server(env, workdir / "web.log")
    try:
        answers = {
            "before": call(
                "POST", f"{base}/api/chat/send", token=token, body={"message": "before the crash"}
            ),
            "health-before": call("GET", f"{base}/api/chat/health"),
        }
        session_id = answers["before"].body["session_id"]
        redis_server.kill()
        answers |= {
            "send": call(
                "POST",
                f"{base}/api/chat/send",
                token=token,
                body={"message": "after", "session_id": session_id},
            ),
            "send-new": call("POST", f"{base}/api/chat", token=token, body={"message": "new one"}),
            "list": call("GET", f"{base}/api/chat/sessions", token=token),
            "export": call("GET", f"{base}/api/chat/sessions/{session_id}/export", token=token),
            "login": call(
                "POST", f"{base}/api/auth/token", body={"username": "faulty", "password": PASSWORD}
            ),
            "bad-login": call(
                "POST", f"{base}/api/auth/token", body={"username": "faulty", "password": "no"}
            ),
            "health": call("GET", f"{base}/api/chat/health"),
        }
    finally:
        server.kill()
        redis_server.kill()
    return answers


def test_chat_survives_redis_being_killed(
    redis_outage: dict[str, Answer], outage_user: tuple[int, str]
) -> None:
    statuses = {name: redis_outage[name].status for name in ("before", "send", "send-new", "list", "export")}

    assert statuses == {"before": 201, "send": 201, "send-new": 201, "list": 200, "export": 200}
    stored = {
        doc["content"] for doc in store.collection(ChatMessage).find({"user_id": Int64(outage_user[0])})
    }
    assert {"before the crash", "after", "new one"} <= stored


def test_health_names_redis_when_it_is_down(redis_outage: dict[str, Answer]) -> None:
    assert redis_outage["health-before"].status == 200
    assert redis_outage["health"].status == 503
    assert "redis" in redis_outage["health"].body["down"]


def test_no_request_hangs_while_redis_is_down(redis_outage: dict[str, Answer]) -> None:
    assert {
        n: round(a.seconds, 2) for n, a in redis_outage.items() if a.seconds > REQUEST_BOUND_SECONDS
    } == {}


def test_login_while_redis_is_down_is_answered_not_500(redis_outage: dict[str, Answer]) -> None:
    assert redis_outage["login"].status in (200, 503)
    assert redis_outage["bad-login"].status in (400, 503)


# --- MariaDB -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mariadb_unreachable(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Answer]:
    mysql_only()
    workdir = tmp_path_factory.mktemp("nomysql")
    env = child_env(DATABASE_URL=database_url_via(free_port()), CELERY_BROKER_URL="memory://")
    server, base = gunicorn(env, workdir / "web.log", workers=1, threads=2)
    token = "0" * 40  # nothing can be checked without MySQL anyway
    try:
        return {
            "sessions": call("GET", f"{base}/api/chat/sessions", token=token),
            "send": call("POST", f"{base}/api/chat/send", token=token, body={"message": "hi"}),
            "ehr": call("GET", f"{base}/api/ehr/me", token=token),
            "login": call(
                "POST", f"{base}/api/auth/token", body={"username": "faulty", "password": PASSWORD}
            ),
            "register": call(
                "POST",
                f"{base}/api/auth/register",
                body={"username": "n", "email": "n@x.test", "password": PASSWORD},
            ),
            "health": call("GET", f"{base}/api/chat/health"),
        }
    finally:
        server.kill()


def test_health_names_mariadb_when_it_is_unreachable(mariadb_unreachable: dict[str, Answer]) -> None:
    assert mariadb_unreachable["health"].status == 503
    assert "mysql" in mariadb_unreachable["health"].body["down"]


def test_no_request_hangs_while_mariadb_is_unreachable(mariadb_unreachable: dict[str, Answer]) -> None:
    slow = {
        n: round(a.seconds, 2) for n, a in mariadb_unreachable.items() if a.seconds > REQUEST_BOUND_SECONDS
    }
    assert slow == {}


def test_mariadb_unreachable_is_a_clear_503_json(mariadb_unreachable: dict[str, Answer]) -> None:
    wrong = {
        n: (a.status, str(a.body)[:80])
        for n, a in mariadb_unreachable.items()
        if n != "health" and not is_clear_503(a)
    }
    assert wrong == {}


@dataclass
class Phase:
    answers: list[Answer] = field(default_factory=list)

    def ask(self, base: str, token: str) -> None:
        self.answers.append(call("GET", f"{base}/api/chat/sessions", token=token, timeout=60))
        self.answers.append(call("GET", f"{base}/api/auth/me", token=token, timeout=60))

    @property
    def statuses(self) -> list[int]:
        return [answer.status for answer in self.answers]


@pytest.fixture(scope="module")
def mariadb_dies(
    tmp_path_factory: pytest.TempPathFactory, django_db_setup: None, django_db_blocker: Any
) -> Iterator[dict[str, Phase]]:
    """A running server whose MariaDB connection is cut (as if the server died), then restored."""
    mysql_only()
    workdir = tmp_path_factory.mktemp("mysqldies")
    proxy = StoreProxy(int(connections["default"].settings_dict["PORT"]))
    proxy.start()
    env = child_env(DATABASE_URL=database_url_via(proxy.port), CELERY_BROKER_URL="memory://")
    server, base = gunicorn(env, workdir / "web.log", workers=1, threads=2)
    phases = {"up": Phase(), "down": Phase(), "back": Phase()}
    with django_db_blocker.unblock():
        user = make_user(username="dying")
        token = token_for(user)
    try:
        phases["up"].ask(base, token)
        proxy.cut()
        phases["down"].ask(base, token)
        proxy.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and phases["back"].statuses[-2:] != [200, 200]:
            phases["back"].ask(base, token)
    finally:
        server.kill()
        proxy.cut()
    yield phases
    with django_db_blocker.unblock():
        user.delete()


def test_a_server_recovers_when_mariadb_comes_back(mariadb_dies: dict[str, Phase]) -> None:
    assert mariadb_dies["up"].statuses == [200, 200]
    assert mariadb_dies["back"].statuses[-2:] == [200, 200], mariadb_dies["back"].statuses


def test_no_request_hangs_when_mariadb_dies(mariadb_dies: dict[str, Phase]) -> None:
    assert max(answer.seconds for answer in mariadb_dies["down"].answers) < REQUEST_BOUND_SECONDS


def test_mariadb_dying_under_a_running_server_is_a_clear_503(mariadb_dies: dict[str, Phase]) -> None:
    assert [(a.status, is_clear_503(a)) for a in mariadb_dies["down"].answers] == [(503, True)] * 2


@pytest.mark.django_db(databases=["default"], transaction=True)
def test_a_frozen_mariadb_does_not_hang_requests(tmp_path: Path) -> None:
    mysql_only()
    token = token_for(make_user(username="frozen"))
    proxy = StoreProxy(int(connections["default"].settings_dict["PORT"]))
    proxy.start()
    # libmysqlclient retries a timed-out read twice: the bound is 3 x MYSQL_READ_TIMEOUT.
    env = child_env(
        DATABASE_URL=database_url_via(proxy.port),
        CELERY_BROKER_URL="memory://",
        MYSQL_READ_TIMEOUT="2",
        MYSQL_WRITE_TIMEOUT="2",
    )
    server, base = gunicorn(env, tmp_path / "web.log", workers=1, threads=2)
    try:
        assert call("GET", f"{base}/api/auth/me", token=token).status == 200
        proxy.freeze()
        frozen = call("GET", f"{base}/api/auth/me", token=token, timeout=REQUEST_BOUND_SECONDS * 2)
    finally:
        server.kill()
        proxy.cut()
    assert frozen.seconds < REQUEST_BOUND_SECONDS, frozen
    assert is_clear_503(frozen), frozen


# --- bounded load ----------------------------------------------------------------------------------------


@dataclass
class Client:
    token: str
    user_id: int
    session_id: str = ""
    told: list[tuple[str, str]] = field(default_factory=list)  # (user message id, assistant message id)
    latencies: list[float] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    queued: int = 0


def chat_until(base: str, client: Client, deadline: float) -> Client:
    number = 0
    while time.monotonic() < deadline:
        answer = call(
            "POST",
            f"{base}/api/chat/send",
            token=client.token,
            body={
                "message": f"load message {number} of user {client.user_id}",
                "session_id": client.session_id,
            },
            timeout=60,
        )
        client.latencies.append(answer.seconds)
        if answer.status not in (201, 202):
            client.errors.append((answer.status, str(answer.body)[:200]))
        else:
            # 202: chat storage did not answer within MONGODB_TIMEOUT_MS and the turn waits in the
            # outbox with these ids: accepted, and it must end up stored exactly once as well.
            client.queued += answer.status == 202
            client.told.append(
                (answer.body["user_message"]["message_id"], answer.body["assistant_message"]["message_id"])
            )
        number += 1
    return client


def call_command_output(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def stored_ids(user_id: int) -> list[tuple[str, str, int]]:
    return [
        (doc["message_id"], doc["role"], doc["order"])
        for doc in store.collection(ChatMessage).find({"user_id": Int64(user_id)}).sort("order", 1)
    ]


@pytest.mark.django_db(databases=["default", "chats"], transaction=True)
def test_concurrent_clients_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    users = [make_user(username=f"load{n}") for n in range(LOAD_CLIENTS)]
    clients = [Client(token=token_for(user), user_id=user.pk) for user in users]
    env = child_env(CHAT_SEND_RATE="1000000/min", CHAT_EXPORT_RATE="1000000/min")
    server, base = gunicorn(env, tmp_path / "web.log", workers=2, threads=LOAD_CLIENTS // 2)
    try:
        for client in clients:
            created = call("POST", f"{base}/api/chat/sessions", token=client.token, body={"title": "load"})
            assert created.status == 201, created
            client.session_id = created.body["session_id"]
        deadline = time.monotonic() + LOAD_SECONDS
        with ThreadPoolExecutor(max_workers=LOAD_CLIENTS) as pool:
            finished = list(pool.map(lambda c: chat_until(base, c, deadline), clients))
    finally:
        server.kill()
    latencies = sorted(seconds for client in finished for seconds in client.latencies)
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
    queued = sum(client.queued for client in finished)
    delivered = call_command_output("sync_outbox")
    print(
        f"\nload: {LOAD_CLIENTS} clients, {LOAD_SECONDS:.0f}s, {len(latencies)} sends, "
        f"{len(latencies) / LOAD_SECONDS:.1f}/s, median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; {queued} queued (202) under "
        f"overload, then sync_outbox: {delivered.strip()}"
    )
    assert [error for client in finished for error in client.errors] == []
    assert not OutboxEntry.objects.exclude(status=OutboxEntry.Status.DELIVERED).exists(), "all delivered"
    for client in finished:
        stored = stored_ids(client.user_id)
        expected = [
            (mid, role) for pair in client.told for mid, role in zip(pair, ("user", "assistant"), strict=True)
        ]
        assert [(mid, role) for mid, role, _ in stored] == expected, client.user_id
        assert [order for _, _, order in stored] == list(range(1, len(expected) + 1))
    assert sum(len(client.told) for client in finished) > LOAD_CLIENTS
