"""Zero-loss write path: the outbox keeps chat writes while MongoDB is down and delivers them once."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Any

import pymongo
import pytest
from bson import Int64
from django.db import transaction

from chats import selectors, services, store
from chats.models import ChatMessage, ChatSession, MessageVote
from chats.outbox import services as outbox
from chats.outbox.models import OutboxEntry
from tests.chats.factories import next_user_id
from tests.factories import make_user, token_for
from tests.support.processes import Background, MongoServer, child_env, http_json, manage, poll, web_server

both = pytest.mark.django_db(databases=["default", "chats"], transaction=True)


def queue_conversation(user_id: int, session_id: str, count: int) -> list[str]:
    moment = store.now()
    outbox.enqueue_session(user_id=user_id, session_id=session_id, channel="web", created_at=moment)
    ids = []
    for number in range(count):
        entry = outbox.enqueue_message(
            user_id=user_id,
            session_id=session_id,
            message_id=f"queued-{session_id}-{number}",
            role="user",
            content=f"queued message {number}",
            created_at=moment,
        )
        ids.append(entry.object_id)
    return ids


def stored_contents(user_id: int, session_id: str) -> list[str]:
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    return [message.content for message in selectors.iter_session_messages(session=session)]


@both
def test_drain_delivers_in_order_and_a_second_drain_adds_nothing() -> None:
    user_id = next_user_id()
    queue_conversation(user_id, "s-drain", 5)
    first = outbox.drain()
    second = outbox.drain()
    assert (first.delivered, first.pending, second.delivered) == (6, 0, 0)
    assert stored_contents(user_id, "s-drain") == [f"queued message {n}" for n in range(5)]


@both
def test_a_drain_that_dies_after_writing_to_mongodb_is_redelivered_exactly_once() -> None:
    user_id = next_user_id()
    queue_conversation(user_id, "s-crash", 4)

    class WorkerDied(Exception):
        pass

    def drain_then_die() -> None:
        with transaction.atomic():
            outbox.drain()  # MongoDB got every document; MySQL will forget it delivered them
            raise WorkerDied

    with pytest.raises(WorkerDied):
        drain_then_die()

    assert OutboxEntry.objects.filter(status=OutboxEntry.Status.PENDING).count() == 5
    outbox.drain()
    assert stored_contents(user_id, "s-crash") == [f"queued message {n}" for n in range(4)]
    assert ChatMessage.objects.filter(user_id=user_id).count() == 4


@both
def test_queued_reply_and_vote_are_delivered_with_usage() -> None:
    from decimal import Decimal

    user_id = next_user_id()
    session = services.start_session(user_id=user_id, session_id="s-vote")
    question = services.append_message(session=session, role="user", content="question")
    outbox.enqueue_reply(
        user_id=user_id,
        session_id="s-vote",
        message_id="reply-1",
        parent_message_id=question.message_id,
        reply=services.Reply(
            content="answer", model="m", prompt_tokens=2, completion_tokens=3, cost=Decimal("0.1")
        ),
        created_at=store.now(),
    )
    outbox.enqueue_vote(user_id=user_id, message_id="reply-1", vote_type="up", reason="")
    assert outbox.drain().delivered == 2
    assert ChatMessage.objects.get(message_id="reply-1").parent_message_id == question.message_id
    assert selectors.token_usage_by_model(user_id=user_id)["total_tokens"] == 5
    assert MessageVote.objects.filter(user_id=user_id).count() == 1


@both
def test_an_entry_for_someone_elses_session_fails_without_touching_it() -> None:
    owner = services.start_session(user_id=next_user_id(), session_id="s-owned")
    outbox.enqueue_message(
        user_id=owner.user_id + 1,
        session_id="s-owned",
        message_id="intruder-1",
        role="user",
        content="x",
        created_at=store.now(),
    )
    report = outbox.drain()
    assert (report.delivered, report.failed) == (0, 1)
    entry = OutboxEntry.objects.get(object_id="intruder-1")
    assert (entry.status, entry.last_error) == (OutboxEntry.Status.FAILED, "Chat session not found.")
    assert ChatSession.objects.get(pk=owner.pk).message_count == 0
    assert outbox.retry_failed() == 1


@pytest.mark.slow
@pytest.mark.django_db(databases=["default"], transaction=True)
def test_mongodb_frozen_and_killed_during_200_sends_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    mongo = MongoServer(tmp_path / "mongo")
    mongo.start()
    try:
        env = child_env(
            MONGODB_URI=mongo.uri,
            MONGODB_DATABASE="outage",
            MONGODB_TIMEOUT_MS="1000",
            MONGODB_OPERATION_TIMEOUT_MS="1000",
            CELERY_BROKER_URL="memory://",
            CELERY_RESULT_BACKEND="cache+memory://",
        )
        migrated = manage(
            "migrate", "--database", "chats", env={**env, "MONGODB_OPERATION_TIMEOUT_MS": "30000"}
        )
        assert migrated.returncode == 0, migrated.stderr
        user = make_user()
        token = token_for(user)
        server, base = web_server(env, tmp_path / "web.log")
        try:
            status, created = http_json("POST", f"{base}/api/chat/sessions", {"title": "outage"}, token)
            assert status == 201, created
            session_id = created["session_id"]
            statuses, slowest = [], 0.0
            for number in range(200):
                if number == 60:
                    mongo.signal(signal.SIGSTOP)
                elif number == 100:
                    mongo.signal(signal.SIGCONT)
                elif number == 130:
                    mongo.signal(signal.SIGKILL)
                elif number == 170:
                    mongo.start()
                started = time.monotonic()
                status, body = http_json(
                    "POST",
                    f"{base}/api/chat/send",
                    {"message": f"message {number}", "session_id": session_id},
                    token,
                )
                slowest = max(slowest, time.monotonic() - started)
                assert status in (201, 202), (number, status, body)
                statuses.append(status)
        finally:
            server.kill()
        assert slowest <= 1.0 + 1.0, slowest
        assert statuses.count(202) >= 100

        synced = manage("sync_outbox", env={**env, "MONGODB_OPERATION_TIMEOUT_MS": "60000"}, timeout=300)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "pending 0" in synced.stdout

        client: pymongo.MongoClient[dict[str, object]]
        with pymongo.MongoClient(mongo.uri) as client:
            messages: list[dict[str, Any]] = list(
                client["outage"]["chat_messages"].find({"user_id": Int64(user.pk)}).sort("order", 1)
            )
        user_texts = [m["content"] for m in messages if m["role"] == "user"]
        assert user_texts == [f"message {n}" for n in range(200)]
        assert [m["order"] for m in messages] == list(range(1, 401))
        assert len({m["message_id"] for m in messages}) == 400
    finally:
        mongo.stop()


@pytest.mark.slow
@pytest.mark.real_services
@pytest.mark.django_db(databases=["default", "chats"], transaction=True)
def test_worker_killed_mid_drain_leaves_exactly_one_document_per_entry(tmp_path: Path) -> None:
    from django.conf import settings

    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        pytest.skip("needs the Redis broker (always present with CI=true)")
    from chats import tasks

    user_id = next_user_id()
    queue_conversation(user_id, "s-worker", 300)
    env = child_env(OUTBOX_BATCH_SIZE="10", MONGODB_OPERATION_TIMEOUT_MS="30000")
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "medibot",
        "worker",
        "-Q",
        "outbox",
        "-P",
        "solo",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
        "-l",
        "INFO",
    ]

    def delivered() -> int:
        return OutboxEntry.objects.filter(status=OutboxEntry.Status.DELIVERED).count()

    first = Background(argv, env, tmp_path / "worker1.log")
    try:
        tasks.sync_outbox.apply_async()
        assert poll(lambda: delivered() >= 40, timeout=120), (tmp_path / "worker1.log").read_text()[-3000:]
        first.kill(signal.SIGKILL)
    finally:
        first.kill()
    assert 0 < delivered() < 301

    second = Background(argv, env, tmp_path / "worker2.log")
    try:
        tasks.sync_outbox.apply_async()
        assert poll(lambda: delivered() == 301, timeout=180), (tmp_path / "worker2.log").read_text()[-3000:]
    finally:
        second.kill()

    contents = stored_contents(user_id, "s-worker")
    assert contents == [f"queued message {n}" for n in range(300)]
    assert ChatMessage.objects.filter(user_id=user_id).count() == 300
