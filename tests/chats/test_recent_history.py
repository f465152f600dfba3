"""The recent-history cache (``chats.recent_history``) as the chat turn writes it and erasure purges it.

Runs on the test's ``recent_history`` cache: process memory, or Redis when REDIS_URL / CHAT_RECENT_CACHE_URL
name one (give it a db of its own: the tests empty it).
"""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.cache import caches

from chats import recent_history, selectors, services
from chats.outbox.models import OutboxEntry
from chats.services.turn import HISTORY_TURNS, run_turn
from tests.chats.factories import next_user_id, session_with_messages
from tests.chats.test_turn import ScriptedResponder

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture(autouse=True)
def empty_recent_history() -> None:
    caches[recent_history.CACHE_ALIAS].clear()


def _turns(user_id: int, session_id: str | None, count: int) -> str:
    for number in range(count):
        result = run_turn(
            user_id=user_id, session_id=session_id, text=f"question {number}", responder=ScriptedResponder()
        )
        session_id = result.session.session_id
    assert session_id is not None
    return session_id


def _recent(user_id: int, session_id: str) -> recent_history.RecentSession:
    recent = recent_history.recent_session(user_id=user_id, session_id=session_id)
    assert recent is not None
    return recent


def test_the_cache_holds_what_the_store_holds_with_the_same_ids_and_orders() -> None:
    user_id = next_user_id()
    session_id = _turns(user_id, None, 3)

    session = selectors.get_session(user_id=user_id, session_id=session_id)
    stored = [
        (m.message_id, m.order, m.role, m.content) for m in selectors.iter_session_messages(session=session)
    ]
    cached = [(m.message_id, m.order, m.role, m.content) for m in _recent(user_id, session_id).messages]
    assert cached == stored


def test_only_the_last_50_messages_of_a_session_are_kept() -> None:
    user_id = next_user_id()
    session_id = _turns(user_id, None, 27)

    orders = [m.order for m in _recent(user_id, session_id).messages]
    assert orders == list(range(5, 55))
    assert len(orders) == settings.CHAT_RECENT_CACHE_MESSAGES


def test_a_turn_queued_behind_a_sessions_pending_writes_gets_the_cached_history() -> None:
    user_id = next_user_id()
    session_id = _turns(user_id, None, 12)
    OutboxEntry.objects.create(
        kind=OutboxEntry.Kind.VOTE, user_id=user_id, session_id=session_id, object_id="x", payload={}
    )
    responder = ScriptedResponder()

    result = run_turn(user_id=user_id, session_id=session_id, text="queued", responder=responder)

    assert result.queued
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    newest = selectors.message_page(session=session, limit=HISTORY_TURNS - 1).items
    assert responder.seen_history is not None
    assert [(t.role, t.content) for t in responder.seen_history] == [(m.role, m.content) for m in newest]
    assert [m.order for m in _recent(user_id, session_id).messages[-2:]] == [25, 26]


def test_clearing_a_users_chats_purges_every_cached_session() -> None:
    user_id = next_user_id()
    first, second = _turns(user_id, None, 1), _turns(user_id, None, 1)

    services.clear_user_chats(user_id=user_id)

    assert recent_history.recent_session(user_id=user_id, session_id=first) is None
    assert recent_history.recent_session(user_id=user_id, session_id=second) is None
    assert recent_history.recent_sessions(user_id=user_id, limit=20)[0] == []


def test_a_permanent_delete_purges_the_session_and_keeps_the_others() -> None:
    user_id = next_user_id()
    doomed, kept = _turns(user_id, None, 1), _turns(user_id, None, 1)
    session = selectors.get_session(user_id=user_id, session_id=doomed)

    services.delete_session_permanently(session=session)

    assert recent_history.recent_session(user_id=user_id, session_id=doomed) is None
    assert [s.session_id for s in recent_history.recent_sessions(user_id=user_id, limit=20)[0]] == [kept]


def test_another_users_session_is_not_served() -> None:
    owner = session_with_messages(messages=0)
    session_id = _turns(owner.user_id, owner.session_id, 1)

    assert recent_history.recent_session(user_id=owner.user_id + 1, session_id=session_id) is None


@pytest.mark.skipif(
    not str(settings.CACHES["recent_history"]["BACKEND"]).endswith("RedisCache"),
    reason="measures Redis memory",
)
def test_memory_per_active_session_is_bounded() -> None:
    """50 messages of 1 kB (user) / 2 kB (assistant) text: the Redis bytes of one session."""
    user_id = next_user_id()
    session = services.start_session(user_id=user_id)
    for _ in range(25):
        question = services.append_message(session=session, role="user", content="q" * 1000)
        answer = services.append_message(session=session, role="assistant", content="a" * 2000)
        recent_history.remember_turn(session=session, stored=[question, answer])
    backend = recent_history.backend()
    assert isinstance(backend, recent_history._RedisBackend)
    keys = backend.keys(user_id, session.session_id)
    client = backend.client()
    used = sum(client.memory_usage(key) or 0 for key in (keys.messages, keys.session, keys.index))
    text = sum(len(json.loads(item)["content"]) for item in client.lrange(keys.messages, 0, -1))
    print(f"recent-history bytes per session: {used} for {text} characters of text")
    assert client.llen(keys.messages) == 50
    assert used < 2 * text + 50 * 1024
