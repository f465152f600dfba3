"""The data generator writes what the services would: consistent counters, gap-free orders, readable."""

from __future__ import annotations

from io import StringIO

import pytest
from bson import Int64
from django.contrib.auth import get_user_model
from django.core.management import call_command

from chats import selectors, services, store
from chats.fake_data import SEARCH_PHRASE, ChatGenerator, generate_chats
from chats.models import ChatMessage, ChatSession, Role, TokenUsage
from tests.chats.factories import next_user_id

pytestmark = pytest.mark.django_db(databases=["chats"])


def _stored_orders(session: ChatSession) -> list[int]:
    return [
        int(document["order"])
        for document in store.collection(ChatMessage).find(
            {"user_id": Int64(session.user_id), "session_id": session.pk}, {"order": 1}
        )
    ]


def test_message_count_equals_the_stored_messages_and_orders_are_gap_free() -> None:
    generator = ChatGenerator(seed=1, batch_size=7)
    sessions = generator.sessions_for(user_id=next_user_id(), sessions=3, messages=25)

    for session in sessions:
        stored = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
        assert stored.message_count == 25
        assert sorted(_stored_orders(session)) == list(range(1, 26))


def test_appending_continues_the_orders_and_the_services_append_after_it() -> None:
    generator = ChatGenerator(seed=2, batch_size=10)
    [session] = generator.sessions_for(user_id=next_user_id(), sessions=1, messages=4)

    generator.append_to(session=session, messages=13)
    stored = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    appended = services.append_message(session=stored, role=Role.USER, content="one more question")

    assert appended.order == 18
    assert sorted(_stored_orders(session)) == list(range(1, 19))


def test_sessions_are_titled_and_counters_match_their_newest_message() -> None:
    [session] = ChatGenerator(seed=3).sessions_for(user_id=next_user_id(), sessions=1, messages=6)

    stored = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    page = selectors.message_page(session=stored, limit=50)

    assert stored.title == services.title_from(page.items[0].content)
    assert stored.last_message_at == page.items[-1].created_at
    assert stored.updated_at == page.items[-1].created_at


def test_messages_are_stored_as_the_services_store_them() -> None:
    [session] = ChatGenerator(seed=4).sessions_for(user_id=next_user_id(), sessions=1, messages=2)

    question, answer = selectors.message_page(session=session, limit=50).items

    assert (question.role, answer.role) == (Role.USER, Role.ASSISTANT)
    assert question.content_hash == services.content_hash(question.content)
    assert answer.parent_message_id == question.message_id
    assert answer.model
    services.validate_public_id(question.message_id, what="message_id")


def test_every_assistant_message_has_its_token_usage() -> None:
    [session] = ChatGenerator(seed=5).sessions_for(user_id=next_user_id(), sessions=1, messages=10)

    usage = list(TokenUsage.objects.filter(user_id=session.user_id, session_id=session.pk))
    answers = [m for m in selectors.message_page(session=session, limit=50).items if m.role == Role.ASSISTANT]

    assert sorted(u.message_id for u in usage) == sorted(m.pk for m in answers)
    assert all(u.total_tokens == u.prompt_tokens + u.completion_tokens > 0 for u in usage)


def test_selectors_list_the_generated_sessions_newest_first() -> None:
    user_id = next_user_id()
    sessions = ChatGenerator(seed=6).sessions_for(user_id=user_id, sessions=25, messages=2)

    page = selectors.list_sessions(user_id=user_id, limit=20)

    assert [s.session_id for s in page.items] == [s.session_id for s in reversed(sessions)][:20]
    assert page.next_cursor is not None


def test_search_finds_the_generated_messages() -> None:
    user_id = next_user_id()
    ChatGenerator(seed=7).sessions_for(user_id=user_id, sessions=2, messages=200)

    result = selectors.search_chats(query=SEARCH_PHRASE, user_id=user_id)

    assert result.messages
    assert all("blood pressure" in hit.message.content.lower() for hit in result.messages)


def test_the_same_seed_generates_the_same_conversation() -> None:
    first = ChatGenerator(seed=8, now=store.now()).sessions_for(
        user_id=next_user_id(), sessions=1, messages=6
    )
    second = ChatGenerator(seed=8, now=store.now()).sessions_for(
        user_id=next_user_id(), sessions=1, messages=6
    )

    def texts(session: ChatSession) -> list[str]:
        return [m.content for m in selectors.message_page(session=session, limit=50).items]

    assert texts(first[0]) == texts(second[0])


@pytest.mark.django_db(databases=["default", "chats"])
def test_generate_chats_command_creates_accounts_sessions_and_messages() -> None:
    output = StringIO()

    call_command("generate_chats", users=2, sessions=3, messages=4, seed=9, stdout=output)

    users = list(get_user_model().objects.filter(username__startswith="generated-").order_by("username"))
    assert [user.username for user in users] == ["generated-00001", "generated-00002"]
    for user in users:
        page = selectors.list_sessions(user_id=user.pk, limit=20)
        assert [session.message_count for session in page.items] == [4, 4, 4]
    assert "2 users, 6 sessions, 24 messages, 12 token usage rows" in output.getvalue()


@pytest.mark.django_db(databases=["default", "chats"])
def test_generating_again_reuses_the_accounts() -> None:
    first = generate_chats(users=1, sessions=1, messages=2, prefix="again")
    second = generate_chats(users=1, sessions=1, messages=2, prefix="again")

    assert first.user_ids == second.user_ids
    assert selectors.list_sessions(user_id=first.user_ids[0], limit=20).items[1].message_count == 2
