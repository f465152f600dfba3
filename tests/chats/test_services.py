"""Chat services against the real MongoDB-compatible server."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from bson import Decimal128

from chats import selectors, services, store
from chats.exceptions import InvalidChatInput, SessionAlreadyExists, SessionNotFound
from chats.models import (
    ChatMessage,
    ChatSession,
    DailyChatStats,
    MessageStatus,
    MessageVote,
    Role,
    TokenUsage,
)
from tests.chats.factories import exchange, next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["chats"])


def reply(text: str = "Drink water and rest.", **fields: object) -> services.Reply:
    defaults: dict[str, object] = {"model": "medibot-offline", "prompt_tokens": 12, "completion_tokens": 8}
    return services.Reply(content=text, **{**defaults, **fields})  # type: ignore[arg-type]


def test_start_session_assigns_a_uuid_session_id() -> None:
    session = services.start_session(user_id=next_user_id())
    stored = ChatSession.objects.get(pk=session.pk)
    assert len(stored.session_id) == 36
    assert stored.message_count == 0
    assert stored.schema_version == 1


def test_client_supplied_session_id_is_unique_per_user() -> None:
    owner, other = next_user_id(), next_user_id()
    services.start_session(user_id=owner, session_id="my_session_123")
    with pytest.raises(SessionAlreadyExists):
        services.start_session(user_id=owner, session_id="my_session_123")
    services.start_session(user_id=other, session_id="my_session_123")
    assert ChatSession.objects.filter(session_id="my_session_123").count() == 2


@pytest.mark.parametrize("bad_id", ["has space", "../etc", "x" * 65, '{"$ne": null}'])
def test_malformed_session_id_is_refused(bad_id: str) -> None:
    with pytest.raises(InvalidChatInput):
        services.start_session(user_id=next_user_id(), session_id=bad_id)


def test_title_comes_from_first_user_message_cut_at_a_word_boundary() -> None:
    session = services.start_session(user_id=next_user_id())
    text = "I have had a persistent headache and mild fever for three days and I am worried about meningitis"
    services.append_message(session=session, role=Role.USER, content=text)
    services.append_message(session=session, role=Role.USER, content="Second message must not rename it")
    title = ChatSession.objects.get(pk=session.pk).title
    assert len(title) <= 80
    assert title.endswith("…")
    assert text.startswith(title[:-1])
    assert text[len(title) - 1] == " "


def test_append_keeps_session_counters_in_step() -> None:
    session = services.start_session(user_id=next_user_id())
    first = services.append_message(session=session, role=Role.USER, content="hello")
    second = services.append_message(session=session, role=Role.ASSISTANT, content="hi, how can I help?")
    stored = ChatSession.objects.get(pk=session.pk)
    assert (first.order, second.order) == (1, 2)
    assert stored.message_count == 2
    assert stored.last_message_at == second.created_at
    assert stored.updated_at >= second.created_at
    assert ChatMessage.objects.get(pk=second.pk).content_hash == services.content_hash("hi, how can I help?")


def test_concurrent_appends_to_one_session_get_orders_1_to_400_without_gaps() -> None:
    session = services.start_session(user_id=next_user_id())
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for number in range(50):
                services.append_message(
                    session=session, role=Role.USER, content=f"worker {worker} message {number}"
                )
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(worker,)) for worker in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    orders = sorted(ChatMessage.objects.filter(session_id=session.pk).values_list("order", flat=True))
    assert orders == list(range(1, 401))
    assert ChatSession.objects.get(pk=session.pk).message_count == 400


def test_replaying_a_message_id_stores_it_once() -> None:
    session = services.start_session(user_id=next_user_id())
    first = services.append_message(session=session, role=Role.USER, content="once", message_id="fixed-id-1")
    again = services.append_message(session=session, role=Role.USER, content="once", message_id="fixed-id-1")
    assert again.pk == first.pk
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 1
    assert ChatSession.objects.get(pk=session.pk).message_count == 1


def test_a_reply_is_stored_after_its_question_with_exact_usage() -> None:
    session = services.start_session(user_id=next_user_id())
    user_message, assistant, usage = exchange(
        session=session, user_content="Is ibuprofen safe?", reply=reply(cost=Decimal("0.00012345"))
    )
    assert (user_message.order, assistant.order) == (1, 2)
    assert usage is not None
    stored = TokenUsage.objects.get(pk=usage.pk)
    assert stored.total_tokens == 20
    assert stored.message_id == assistant.pk
    assert stored.cost == Decimal("0.00012345")
    raw = store.collection(TokenUsage).find_one({"_id": usage.pk})
    assert raw is not None
    assert isinstance(raw["cost"], Decimal128)
    assert ChatMessage.objects.get(pk=assistant.pk).model == "medibot-offline"


def test_failed_reply_is_stored_as_failed_without_usage() -> None:
    session = services.start_session(user_id=next_user_id())
    failed = services.Reply(content="", status=MessageStatus.FAILED, error_info={"code": "provider_timeout"})
    _, assistant, usage = exchange(session=session, user_content="hello?", reply=failed)
    assert usage is None
    stored = ChatMessage.objects.get(pk=assistant.pk)
    assert stored.status == MessageStatus.FAILED
    assert stored.error_info == {"code": "provider_timeout"}


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_appending_to_a_deleted_session_is_refused_and_writes_nothing() -> None:
    session = session_with_messages(messages=1)
    services.soft_delete_session(session=session)
    with pytest.raises(SessionNotFound):
        services.append_message(session=session, role=Role.USER, content="late")
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [("", "empty"), ("   ", "empty"), ("x" * 32_001, "too long"), ("a\x00b", "NUL"), ("\ud800", "surrogate")],
)
def test_bad_message_content_is_refused_before_anything_is_written(content: str, reason: str) -> None:
    session = services.start_session(user_id=next_user_id())
    with pytest.raises(InvalidChatInput):
        services.append_message(session=session, role=Role.USER, content=content)
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 0
    assert ChatSession.objects.get(pk=session.pk).message_count == 0


@pytest.mark.parametrize("metadata", [{"$where": "1"}, {"a.b": 1}, {"nested": {"$gt": ""}}])
def test_metadata_keys_that_mongodb_would_interpret_are_refused(metadata: dict[str, object]) -> None:
    with pytest.raises(InvalidChatInput):
        services.start_session(user_id=next_user_id(), metadata=metadata)


def test_update_session_changes_only_allowed_fields() -> None:
    session = services.start_session(user_id=next_user_id())
    services.update_session(session=session, title="Renamed", tags=["bp", "bp", "diet"], is_pinned=True)
    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.title, stored.tags, stored.is_pinned) == ("Renamed", ["bp", "diet"], True)
    with pytest.raises(InvalidChatInput):
        services.update_session(session=session, message_count=99)
    with pytest.raises(InvalidChatInput):
        services.update_session(session=session, user_id=1)
    assert ChatSession.objects.get(pk=session.pk).message_count == 0


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_soft_delete_hides_and_restore_brings_back() -> None:
    session = session_with_messages(messages=2)
    services.soft_delete_session(session=session)
    with pytest.raises(SessionNotFound):
        selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    services.restore_session(session=session)
    assert selectors.get_session(user_id=session.user_id, session_id=session.session_id).message_count == 2


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_permanent_delete_removes_messages_votes_and_usage() -> None:
    session = services.start_session(user_id=next_user_id())
    _, assistant, _ = exchange(session=session, user_content="hi", reply=reply())
    services.vote(message=assistant, user_id=session.user_id, vote_type="up")
    keep = session_with_messages(user_id=session.user_id, messages=2)

    counts = services.delete_session_permanently(session=session).counts

    assert counts == services.DeletedCounts(sessions=1, messages=2, votes=1, token_usage=1)
    assert not ChatSession.objects.filter(pk=session.pk).exists()
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 0
    assert ChatMessage.objects.filter(session_id=keep.pk).count() == 2


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_clear_user_chats_leaves_other_users_alone() -> None:
    mine = session_with_messages(messages=3)
    theirs = session_with_messages(messages=2)
    counts = services.clear_user_chats(user_id=mine.user_id).counts
    assert (counts.sessions, counts.messages) == (1, 3)
    assert ChatMessage.objects.filter(user_id=theirs.user_id).count() == 2


def test_voting_again_changes_the_single_vote() -> None:
    session = services.start_session(user_id=next_user_id())
    _, assistant, _ = exchange(session=session, user_content="hi", reply=reply())
    services.vote(message=assistant, user_id=session.user_id, vote_type="up")
    changed = services.vote(message=assistant, user_id=session.user_id, vote_type="down", reason="wrong dose")
    assert MessageVote.objects.filter(message_id=assistant.pk).count() == 1
    assert (changed.vote_type, changed.reason) == ("down", "wrong dose")
    assert services.unvote(message=assistant, user_id=session.user_id) is True
    assert MessageVote.objects.filter(message_id=assistant.pk).count() == 0


def test_daily_stats_recompute_gives_the_same_row() -> None:
    session = services.start_session(user_id=next_user_id())
    exchange(session=session, user_content="hi", reply=reply(cost=Decimal("0.5")))
    today = date.today()
    first = services.compute_daily_stats(day=today)
    second = services.compute_daily_stats(day=today)
    assert DailyChatStats.objects.filter(date=today).count() == 1
    assert (second.total_messages, second.total_tokens, second.active_users) == (2, 20, 1)
    assert second.total_cost == Decimal("0.5")
    assert second.messages_by_role == {"assistant": 1, "user": 1}
    assert first.total_messages == second.total_messages
    assert services.compute_daily_stats(day=today - timedelta(days=1)).total_messages == 0
