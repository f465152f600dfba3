"""Chat selectors: bounded, indexed reads, proven with MongoDB ``explain``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from bson import Int64
from django.utils import timezone

from chats import selectors, services, store
from chats.exceptions import InvalidChatInput, MessageNotFound, SessionNotFound
from chats.models import ChatSession, Role
from tests.chats.explain import captured_aggregations, explain
from tests.chats.factories import bulk_messages, exchange, next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["chats"])


def test_newest_page_then_backwards_covers_the_session_once_in_order() -> None:
    session = session_with_messages(messages=23)
    seen: list[int] = []
    page = selectors.message_page(session=session, limit=10)
    seen[:0] = [message.order for message in page.items]
    while page.has_older:
        page = selectors.message_page(session=session, limit=10, before=page.older_cursor)
        seen[:0] = [message.order for message in page.items]
    assert seen == list(range(1, 24))


def test_after_cursor_pages_forward() -> None:
    session = session_with_messages(messages=7)
    page = selectors.message_page(session=session, limit=3, after=2)
    assert [message.order for message in page.items] == [3, 4, 5]
    assert page.has_newer
    assert page.has_older


def test_page_size_over_the_maximum_is_refused() -> None:
    session = session_with_messages(messages=1)
    with pytest.raises(InvalidChatInput):
        selectors.message_page(session=session, limit=101)


@pytest.mark.slow
def test_newest_page_of_a_10000_message_session_is_one_bounded_index_range() -> None:
    session = bulk_messages(session=services.start_session(user_id=next_user_id()), count=10_000)
    bystander = bulk_messages(session=services.start_session(user_id=session.user_id), count=2_000)
    assert bystander.message_count == 2_000

    for call in (
        lambda: selectors.message_page(session=session, limit=50),
        lambda: selectors.message_page(session=session, limit=50, before=5_000),
    ):
        [(collection, pipeline)] = captured_aggregations(call)
        stats = explain(collection, pipeline)
        assert "IXSCAN" in stats["stages"], stats
        assert "COLLSCAN" not in stats["stages"], stats
        assert stats["totalDocsExamined"] <= 51, stats
        assert stats["nReturned"] == 50


def spread_over_time(sessions: list[ChatSession], *, every: timedelta) -> None:
    """sessions[0] updated now, sessions[1] ``every`` earlier, and so on."""
    now = timezone.now()
    for number, session in enumerate(sessions):
        store.collection(ChatSession).update_one(
            {"_id": session.pk, "user_id": Int64(session.user_id)},
            {"$set": {"updated_at": now - every * number}},
        )


def sessions_of(user_id: int, count: int) -> list[ChatSession]:
    return [services.start_session(user_id=user_id, title=f"s{n}") for n in range(count)]


def test_listing_sessions_reads_index_ranges_near_the_newest_not_every_session() -> None:
    user_id = next_user_id()
    sessions = sessions_of(user_id, 240)
    services.set_pinned(session=sessions[200], pinned=True)
    spread_over_time(sessions, every=timedelta(hours=6))
    for _ in range(20):
        services.start_session(user_id=next_user_id())

    pages: list[selectors.SessionPage] = []
    aggregations = captured_aggregations(
        lambda: pages.append(selectors.list_sessions(user_id=user_id, limit=20))
    )

    assert [session.title for session in pages[0].items] == ["s200", *(f"s{n}" for n in range(19))]
    examined = 0
    for collection, pipeline in aggregations:
        stats = explain(collection, pipeline)
        assert "IXSCAN" in stats["stages"], stats
        examined += stats["totalDocsExamined"]
    assert examined <= 3 * 21, f"read {examined} sessions for a page of 20 out of 240"


def test_a_cursor_walk_across_years_of_sessions_returns_each_once_in_order() -> None:
    user_id = next_user_id()
    sessions = sessions_of(user_id, 90)
    services.set_pinned(session=sessions[50], pinned=True)
    services.set_archived(session=sessions[7], archived=True)
    spread_over_time(sessions, every=timedelta(days=11))

    walked: list[str] = []
    cursor = None
    while True:
        page = selectors.list_sessions(user_id=user_id, limit=7, cursor=cursor)
        walked += [session.title for session in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert walked == ["s50", *(f"s{n}" for n in range(90) if n not in (7, 50))]
    everything = selectors.list_sessions(user_id=user_id, archived=None, limit=100).items
    assert [session.title for session in everything] == ["s50", *(f"s{n}" for n in range(90) if n != 50)]
    since = selectors.list_sessions(
        user_id=user_id, updated_since=timezone.now() - timedelta(days=30), limit=100
    )
    assert [session.title for session in since.items] == ["s0", "s1", "s2"]


def test_sessions_list_pinned_first_then_newest_with_a_complete_cursor_walk() -> None:
    user_id = next_user_id()
    sessions = [services.start_session(user_id=user_id, title=f"s{n}") for n in range(7)]
    services.set_pinned(session=sessions[2], pinned=True)
    services.append_message(session=sessions[0], role=Role.USER, content="bump to newest")
    services.set_archived(session=sessions[6], archived=True)

    walked: list[str] = []
    cursor = None
    while True:
        page = selectors.list_sessions(user_id=user_id, limit=2, cursor=cursor)
        walked += [session.title for session in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert walked == ["s2", "s0", "s5", "s4", "s3", "s1"]
    archived = selectors.list_sessions(user_id=user_id, archived=True)
    assert [session.title for session in archived.items] == ["s6"]


def test_session_filters_by_tag_and_type() -> None:
    user_id = next_user_id()
    services.start_session(user_id=user_id, title="a", tags=["bp"], session_type="medication")
    services.start_session(user_id=user_id, title="b", tags=["diet"])
    assert [s.title for s in selectors.list_sessions(user_id=user_id, tag="bp").items] == ["a"]
    assert [s.title for s in selectors.list_sessions(user_id=user_id, session_type="general").items] == ["b"]


def test_a_tampered_cursor_is_a_clear_error() -> None:
    with pytest.raises(InvalidChatInput):
        selectors.list_sessions(user_id=next_user_id(), cursor="not-a-cursor")


def test_another_users_session_and_message_are_not_found() -> None:
    session = session_with_messages(messages=1)
    message = selectors.message_page(session=session).items[0]
    with pytest.raises(SessionNotFound):
        selectors.get_session(user_id=session.user_id + 1, session_id=session.session_id)
    with pytest.raises(MessageNotFound):
        selectors.get_message(user_id=session.user_id + 1, message_id=message.message_id)
    assert selectors.get_message(user_id=session.user_id, message_id=message.message_id).pk == message.pk


def test_search_is_case_accent_and_stem_insensitive_and_needs_every_word() -> None:
    session = services.start_session(user_id=next_user_id())
    services.append_message(session=session, role=Role.USER, content="I had FEVERS and a Céphalée last night")
    services.append_message(session=session, role=Role.USER, content="only a fever here")

    result = selectors.search_chats(query="fever cephalee", user_id=session.user_id)

    assert [hit.message.order for hit in result.messages] == [1]
    assert "<mark>FEVERS</mark>" in result.messages[0].snippet
    assert "<mark>Céphalée</mark>" in result.messages[0].snippet
    newest_first = selectors.search_chats(query="fevers", user_id=session.user_id)
    assert [hit.message.order for hit in newest_first.messages] == [2, 1]


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_search_finds_titles_and_never_other_users_or_deleted_sessions() -> None:
    mine = services.start_session(user_id=next_user_id(), title="Blood pressure diary")
    services.append_message(session=mine, role=Role.USER, content="my blood pressure is 150/95")
    theirs = services.start_session(user_id=next_user_id())
    services.append_message(session=theirs, role=Role.USER, content="their blood pressure")
    gone = services.start_session(user_id=mine.user_id)
    services.append_message(session=gone, role=Role.USER, content="deleted blood pressure note")
    services.soft_delete_session(session=gone)

    result = selectors.search_chats(query="Blood Pressure", user_id=mine.user_id)

    assert [s.session_id for s in result.sessions] == [mine.session_id]
    assert {hit.session.session_id for hit in result.messages} == {mine.session_id}
    staff = selectors.search_chats(query="blood pressure", user_id=None)
    assert {hit.session.session_id for hit in staff.messages} == {mine.session_id, theirs.session_id}


@pytest.mark.parametrize("query", ["(a+)+$", ".*", "$where", '{"$ne": null}', "[a-z]"])
def test_search_treats_regex_and_operator_text_literally(query: str) -> None:
    session = services.start_session(user_id=next_user_id())
    services.append_message(session=session, role=Role.USER, content="aaaa plain text")
    try:
        result = selectors.search_chats(query=query, user_id=session.user_id)
    except InvalidChatInput:
        return
    assert all("aaaa" not in hit.message.content or "a" in result.terms for hit in result.messages)


def test_search_uses_the_user_search_index() -> None:
    session = bulk_messages(session=services.start_session(user_id=next_user_id()), count=300)
    services.append_message(session=session, role=Role.USER, content="rare arrhythmia question")
    other = bulk_messages(session=services.start_session(user_id=next_user_id()), count=300)
    assert other.message_count == 300

    aggregations = captured_aggregations(
        lambda: selectors.search_chats(query="arrhythmia question", user_id=session.user_id)
    )
    # vocabulary counts, the messages whose terms are not counted yet (the append above, through
    # message_uncounted_idx), the vocabulary's prefix keys, typo keys and the candidates' counts,
    # session titles, one bucket of postings, then the hit messages' sessions (session_owner_pk_idx)
    collections = [collection for collection, _ in aggregations]
    assert collections[-3:] == ["chat_sessions", "chat_messages", "chat_sessions"]
    assert collections[:2] == ["chat_search_terms", "chat_messages"]
    assert collections[2:-3] in (["chat_search_terms"] * 2, ["chat_search_terms"] * 3)
    for collection, pipeline in aggregations:
        stats = explain(collection, pipeline)
        assert "IXSCAN" in stats["stages"], (collection, stats)
        assert stats["totalDocsExamined"] <= 2, (collection, stats)  # one per word at most


def test_session_statistics_counts_roles_tokens_and_votes() -> None:
    from decimal import Decimal

    session = services.start_session(user_id=next_user_id())
    _, assistant, _ = exchange(
        session=session,
        user_content="hi",
        reply=services.Reply(
            content="hello", model="m", prompt_tokens=3, completion_tokens=4, cost=Decimal("0.25")
        ),
    )
    services.vote(message=assistant, user_id=session.user_id, vote_type="up")
    session = selectors.get_session(user_id=session.user_id, session_id=session.session_id)

    stats = selectors.session_statistics(session=session)

    assert stats["total_messages"] == 2
    assert stats["message_counts_by_role"] == {"user": 1, "assistant": 1, "system": 0, "tool": 0}
    assert (stats["total_tokens"], stats["total_cost"]) == (7, Decimal("0.25"))
    assert stats["votes"] == {"up": 1, "down": 0}
    assert stats["first_message_at"] <= stats["last_message_at"]
