"""Through a chat-store outage (SecantusDB frozen, then killed) the conversation goes on: the newest
page and the session list come from the recent-history cache, marked degraded, and the bot answers
with the conversation's history. Real processes: a SecantusDB of the test, a web server, and a
recording OpenAI-compatible provider."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import caches

from chats import recent_history
from medibot.embedded import free_port
from tests.chats.fake_llm_server import FakeLlmServer
from tests.factories import make_user, token_for
from tests.support.processes import MongoServer, child_env, http_json, manage, web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(databases=["default"], transaction=True)]


@dataclass
class Site:
    mongo: MongoServer
    llm: FakeLlmServer
    base: str
    token: str
    env: dict[str, str]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return http_json(method, f"{self.base}{path}", body, self.token)

    def send(self, text: str, session_id: str | None = None) -> tuple[int, Any]:
        body = {"message": text, **({"session_id": session_id} if session_id else {})}
        return self.call("POST", "/api/chat/send", body)

    def page(self, session_id: str, query: str = "") -> tuple[int, Any]:
        return self.call("GET", f"/api/chat/sessions/{session_id}/messages{query}")

    def sessions(self) -> tuple[int, Any]:
        return self.call("GET", "/api/chat/sessions")


def _site(tmp_path: Path, **extra: str) -> Iterator[Site]:
    mongo = MongoServer(tmp_path / "mongo")
    mongo.start()
    llm = FakeLlmServer().start()
    server = None
    try:
        env = child_env(
            MONGODB_URI=mongo.uri,
            MONGODB_DATABASE="recent",
            MONGODB_TIMEOUT_MS="1000",
            MONGODB_OPERATION_TIMEOUT_MS="1000",
            CELERY_BROKER_URL="memory://",
            CELERY_RESULT_BACKEND="cache+memory://",
            CHAT_RESPONDER="openai",
            OPENAI_BASE_URL=llm.url,
            OPENAI_API_KEY="test-key",
            OPENAI_MAX_RETRIES="0",
            **extra,
        )
        migrated = manage(
            "migrate", "--database", "chats", env={**env, "MONGODB_OPERATION_TIMEOUT_MS": "30000"}
        )
        assert migrated.returncode == 0, migrated.stderr
        token = token_for(make_user())
        server, base = web_server(env, tmp_path / "web.log")
        yield Site(mongo=mongo, llm=llm, base=base, token=token, env=env)
    finally:
        if server is not None:
            server.kill()
        llm.stop()
        mongo.stop()


@pytest.fixture(autouse=True)
def empty_recent_history() -> None:
    """Users ids repeat across test databases: start from an empty cache (its own Redis db)."""
    caches[recent_history.CACHE_ALIAS].clear()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield from _site(tmp_path)


def _ids(messages: list[dict[str, Any]]) -> list[tuple[str, int, str, str]]:
    return [(m["message_id"], m["order"], m["role"], m["content"]) for m in messages]


def _sync(site: Site) -> None:
    synced = manage("sync_outbox", env={**site.env, "MONGODB_OPERATION_TIMEOUT_MS": "60000"}, timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert "pending 0" in synced.stdout, synced.stdout


def _conversation(site: Site) -> tuple[str, str]:
    """An older session with one turn and a newer one with two, both stored."""
    status, older = site.send("older question")
    assert status == 201, older
    status, first = site.send("I have had a headache since Monday")
    assert status == 201, first
    status, second = site.send("It gets worse in the evening", first["session_id"])
    assert status == 201, second
    return older["session_id"], first["session_id"]


def test_frozen_then_killed_recent_history_is_served_degraded_and_the_bot_keeps_its_context(
    site: Site,
) -> None:
    older, current = _conversation(site)
    _, stored_page = site.page(current)

    site.mongo.signal(signal.SIGSTOP)
    status, frozen_turn = site.send("Should I see a doctor?", current)
    assert status == 202, frozen_turn
    asked = site.llm.requests[-1].messages
    contents = [m["content"] for m in asked]
    assert contents[-5:] == [  # the earlier turns, as MongoDB would have given them, then the question
        "I have had a headache since Monday",
        site.llm.reply_text,
        "It gets worse in the evening",
        site.llm.reply_text,
        "Should I see a doctor?",
    ]

    status, page = site.page(current)
    assert status == 200, page
    assert (page["degraded"], bool(page["as_of"])) == (True, True)
    assert [m["order"] for m in page["results"]] == [1, 2, 3, 4, 5, 6]
    assert _ids(page["results"])[:4] == _ids(stored_page["results"])
    assert [m["message_id"] for m in page["results"][4:]] == [
        frozen_turn["user_message"]["message_id"],
        frozen_turn["assistant_message"]["message_id"],
    ]

    status, listed = site.sessions()
    assert status == 200, listed
    assert listed["degraded"] is True
    assert [s["session_id"] for s in listed["results"]] == [current, older]

    status, full = site.call("GET", f"/api/chat/sessions/{current}/full")
    assert (status, full.get("degraded"), len(full.get("messages", []))) == (200, True, 6), full
    status, detail = site.call("GET", f"/api/chat/sessions/{current}")
    assert (status, detail.get("session_id"), detail.get("degraded")) == (200, current, True), detail

    status, older_page = site.page(current, "?before=3")
    assert status == 503, older_page
    assert site.call("GET", "/api/chat/search?q=headache")[0] == 503

    site.mongo.signal(signal.SIGKILL)
    status, killed_turn = site.send("The pain is on the left side", current)
    assert status == 202, killed_turn
    assert "Should I see a doctor?" in [m["content"] for m in site.llm.requests[-1].messages]
    status, new_session = site.send("A new question while the store is down")
    assert status == 202, new_session

    status, page = site.page(current)
    assert (status, page["degraded"]) == (200, True), page
    assert [m["order"] for m in page["results"]] == list(range(1, 9))
    assert page["results"][-2]["content"] == "The pain is on the left side"
    status, listed = site.sessions()
    assert status == 200, listed
    assert [s["session_id"] for s in listed["results"]] == [new_session["session_id"], current, older]


def test_after_recovery_and_delivery_the_degraded_answers_equal_the_stored_ones(site: Site) -> None:
    _, current = _conversation(site)
    site.mongo.signal(signal.SIGSTOP)
    assert site.send("Queued while the store is down", current)[0] == 202
    status, created = site.send("A session started while the store is down")
    assert status == 202, created
    site.mongo.signal(signal.SIGCONT)
    _sync(site)
    status, stored_page = site.page(current)
    assert (status, "degraded" in stored_page) == (200, False), stored_page
    _, stored_new = site.page(created["session_id"])
    _, stored_list = site.sessions()

    site.mongo.signal(signal.SIGSTOP)
    _, degraded_page = site.page(current)
    _, degraded_new = site.page(created["session_id"])
    _, degraded_list = site.sessions()

    assert degraded_page["degraded"] is True
    assert _ids(degraded_page["results"]) == _ids(stored_page["results"])
    assert _ids(degraded_new["results"]) == _ids(stored_new["results"])
    assert [s["session_id"] for s in degraded_list["results"]] == [
        s["session_id"] for s in stored_list["results"]
    ]


def test_after_clear_all_nothing_is_served_from_the_cache(site: Site) -> None:
    _, current = _conversation(site)
    status, cleared = site.call("DELETE", "/api/chat-history/clear-all")
    assert status == 200, cleared

    site.mongo.signal(signal.SIGSTOP)
    status, page = site.page(current)
    assert status == 503, page
    status, listed = site.sessions()
    assert (status, listed["results"]) == (200, []), listed


@pytest.fixture
def site_without_cache(tmp_path: Path) -> Iterator[Site]:
    """The recent-history cache on a Redis that is down (nothing listens on its port)."""
    yield from _site(tmp_path, CHAT_RECENT_CACHE_URL=f"redis://127.0.0.1:{free_port()}/14")


def test_with_redis_down_too_reads_answer_503_and_writes_still_go_to_the_outbox(
    site_without_cache: Site,
) -> None:
    site = site_without_cache
    _, current = _conversation(site)
    site.mongo.signal(signal.SIGSTOP)

    status, queued = site.send("Sent with both stores down", current)
    assert (status, queued["queued"]) == (202, True), queued
    assert site.page(current)[0] == 503
    assert site.sessions()[0] == 503
    site.mongo.signal(signal.SIGCONT)
    _sync(site)
    _, page = site.page(current)
    assert page["results"][-2]["content"] == "Sent with both stores down"
