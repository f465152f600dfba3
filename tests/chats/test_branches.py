"""Branches of a conversation (edit, regenerate): writes place messages on the right branch with
gap-free orders, and every read follows the active branch."""

from __future__ import annotations

import importlib
import json
from decimal import Decimal
from types import SimpleNamespace

import pymongo
import pytest
from bson import Int64

from chats import branches, exporters, selectors, services, store
from chats.exceptions import InvalidChatInput, MessageNotFound
from chats.models import ChatMessage, ChatSession, Role
from chats.services.branches import switch_branch
from tests.chats.explain import captured_aggregations, explain
from tests.chats.factories import bulk_fork, bulk_messages, next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["chats"])


def reply(text: str) -> services.Reply:
    return services.Reply(content=text, model="m1", prompt_tokens=3, completion_tokens=2, cost=Decimal(0))


def contents(session: ChatSession) -> list[str]:
    fresh = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    return [message.content for message in selectors.iter_session_messages(session=fresh)]


def regenerate(session: ChatSession, old: ChatMessage, text: str) -> ChatMessage:
    answer, _ = services.record_reply(
        session=session, reply=reply(text), parent_message_id=old.parent_message_id, fork_of=old
    )
    return answer


def edit(session: ChatSession, old: ChatMessage, text: str, answer: str) -> tuple[ChatMessage, ChatMessage]:
    question = services.append_message(session=session, role=Role.USER, content=text, fork_of=old)
    answered, _ = services.record_reply(
        session=session, reply=reply(answer), parent_message_id=question.message_id
    )
    return question, answered


def conversation(turns: int) -> tuple[ChatSession, list[ChatMessage]]:
    session = services.start_session(user_id=next_user_id())
    stored: list[ChatMessage] = []
    for number in range(1, turns + 1):
        question = services.append_message(session=session, role=Role.USER, content=f"q{number}")
        answer, _ = services.record_reply(
            session=session, reply=reply(f"a{number}"), parent_message_id=question.message_id
        )
        stored += [question, answer]
    return session, stored


def test_regenerating_a_reply_makes_a_new_active_branch_at_the_same_order() -> None:
    session, stored = conversation(2)

    again = regenerate(session, stored[3], "a2 again")

    assert (again.branch, again.order) == (1, 4)
    assert session.active_branch == 1
    assert contents(session) == ["q1", "a1", "q2", "a2 again"]
    assert session.message_count == 5


def test_editing_a_message_forks_there_and_the_reply_follows_on_the_new_branch() -> None:
    session, stored = conversation(3)

    question, answer = edit(session, stored[2], "q2 edited", "a2 new")

    assert [(m.branch, m.order) for m in (question, answer)] == [(1, 3), (1, 4)]
    assert contents(session) == ["q1", "a1", "q2 edited", "a2 new"]
    assert question.parent_message_id == stored[1].message_id


def test_appending_after_a_fork_extends_the_active_branch_gap_free() -> None:
    session, stored = conversation(2)
    regenerate(session, stored[1], "a1 again")

    question = services.append_message(session=session, role=Role.USER, content="q3")

    assert (question.branch, question.order) == (1, 3)
    assert contents(session) == ["q1", "a1 again", "q3"]
    fresh = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    assert branches.of_session(fresh)[1].tip == 3
    assert branches.of_session(fresh)[0].tip == 4


def test_appends_from_a_stale_copy_of_the_session_land_on_the_active_branch() -> None:
    session, stored = conversation(2)
    stale = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    regenerate(session, stored[3], "a2 again")

    late = services.append_message(session=stale, role=Role.USER, content="q3")

    assert (late.branch, late.order) == (1, 5)
    assert contents(session) == ["q1", "a1", "q2", "a2 again", "q3"]


def test_switching_to_a_sibling_shows_the_path_to_its_branch_tip() -> None:
    session, stored = conversation(3)
    regenerate(session, stored[3], "a2 again")

    switch_branch(session=session, message=stored[3])

    assert contents(session) == ["q1", "a1", "q2", "a2", "q3", "a3"]


def test_a_fork_of_a_fork_reads_every_segment_of_its_path_in_order() -> None:
    session, stored = conversation(4)
    first_edit, _ = edit(session, stored[4], "q3 v2", "a3 v2")
    services.append_message(session=session, role=Role.USER, content="q4 v2")
    deeper = regenerate(session, stored[1], "a1 v2")
    services.append_message(session=session, role=Role.USER, content="after a1 v2")
    switch_branch(session=session, message=first_edit)

    assert contents(session) == ["q1", "a1", "q2", "a2", "q3 v2", "a3 v2", "q4 v2"]
    page = selectors.message_page(session=session, limit=3, before=6)
    assert [m.content for m in page.items] == ["q2", "a2", "q3 v2"]
    assert page.has_older
    assert page.has_newer
    switch_branch(session=session, message=deeper)
    assert contents(session) == ["q1", "a1 v2", "after a1 v2"]


def test_siblings_are_listed_in_fork_order_with_their_place() -> None:
    session, stored = conversation(2)
    second = regenerate(session, stored[3], "a2 v2")
    third = regenerate(session, second, "a2 v3")

    found = selectors.message_siblings(
        message=selectors.get_message(user_id=session.user_id, message_id=second.message_id)
    )

    assert [m.content for m in found] == ["a2", "a2 v2", "a2 v3"]
    table = branches.of_session(session)
    assert branches.sibling_place(table, third.branch, third.order) == (3, 3)
    assert branches.sibling_place(table, stored[2].branch, stored[2].order) == (1, 1)


def test_children_of_a_question_are_its_replies_on_every_branch() -> None:
    session, stored = conversation(2)
    regenerate(session, stored[3], "a2 v2")

    question = selectors.get_message(user_id=session.user_id, message_id=stored[2].message_id)

    assert [m.content for m in selectors.message_children(message=question)] == ["a2", "a2 v2"]


def test_editing_the_first_message_starts_a_branch_at_order_one() -> None:
    session, stored = conversation(2)

    question, _ = edit(session, stored[0], "q1 v2", "a1 v2")

    assert (question.branch, question.order) == (1, 1)
    assert contents(session) == ["q1 v2", "a1 v2"]
    table = branches.of_session(session)
    assert branches.sibling_place(table, 1, 1) == (2, 2)


def test_a_replayed_regeneration_stores_nothing_twice() -> None:
    session, stored = conversation(1)
    first, _ = services.record_reply(
        session=session,
        reply=reply("again"),
        message_id="11111111-2222-3333-4444-555555555555",
        fork_of=stored[1],
    )

    replay, _ = services.record_reply(
        session=session,
        reply=reply("again"),
        message_id="11111111-2222-3333-4444-555555555555",
        fork_of=stored[1],
    )

    assert replay.message_id == first.message_id
    fresh = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    assert fresh.message_count == 3
    assert len(fresh.branches) == 1


def test_forking_a_message_of_another_session_is_refused() -> None:
    session, _ = conversation(1)
    _, elsewhere = conversation(1)

    with pytest.raises((InvalidChatInput, MessageNotFound)):
        services.record_reply(session=session, reply=reply("x"), fork_of=elsewhere[1])
    assert contents(session) == ["q1", "a1"]


def test_a_session_without_forks_reads_as_before() -> None:
    session = session_with_messages(messages=5)
    assert [m.order for m in selectors.message_page(session=session, limit=3).items] == [3, 4, 5]
    assert branches.path_length(session) == 5


@pytest.mark.slow
def test_pages_of_a_forked_10000_message_conversation_read_only_their_documents() -> None:
    """Branch 0 has 6,000 messages; branch 1 forks it at 3,001 (2,000 messages), branch 2 forks
    branch 1 at 4,001 (2,000 messages) and is active: the path is 0[1..3000] 1[3001..4000] 2[4001..6000]."""
    session = bulk_messages(session=services.start_session(user_id=next_user_id()), count=6_000)
    try:
        bulk_fork(session=session, parent=0, first=3_001, count=2_000)
        bulk_fork(session=session, parent=1, first=4_001, count=2_000)
        session = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
        assert session.message_count == 10_000
        assert branches.path_length(session) == 6_000
        for before, segments in ((None, [2]), (4_026, [1, 2]), (3_011, [0, 1])):
            assert_page_is_bounded(session, before=before, segments=segments)
    finally:
        # 10,000 documents take longer than the flush's deadline to delete: plain deletes by owner.
        with pymongo.timeout(600):
            for model in (ChatMessage, ChatSession):
                store.collection(model).delete_many({"user_id": Int64(session.user_id)})


def assert_page_is_bounded(session: ChatSession, *, before: int | None, segments: list[int]) -> None:
    """A page of 50 on the active path: consecutive orders, one index range per branch segment,
    each examining only its own documents."""
    pages: list[selectors.MessagePage] = []
    aggregations = captured_aggregations(
        lambda: pages.append(selectors.message_page(session=session, limit=50, before=before))
    )
    items = pages[0].items
    assert [m.order for m in items] == list(range(items[0].order, items[0].order + 50))
    assert sorted({m.branch for m in items}) == segments
    assert len(aggregations) == len(segments)
    examined = 0
    for collection, pipeline in aggregations:
        stats = explain(collection, pipeline)
        assert "IXSCAN" in stats["stages"], stats
        assert "COLLSCAN" not in stats["stages"], stats
        examined += stats["totalDocsExamined"]
    assert examined <= 50 + 2, examined


@pytest.mark.django_db(databases=["default", "chats"])  # erasure also removes care-team shares (MySQL)
def test_erasing_a_forked_session_removes_every_branch() -> None:
    session, stored = conversation(3)
    regenerate(session, stored[3], "a2 again")
    edit(session, stored[0], "q1 v2", "a1 v2")

    erased = services.delete_session_permanently(session=session)

    assert erased.counts.messages == 9
    assert store.collection(ChatMessage).count_documents({"user_id": Int64(session.user_id)}) == 0


def test_reimportable_exports_hold_every_branch_and_the_table() -> None:
    session, stored = conversation(2)
    regenerate(session, stored[1], "a1 again")
    session = selectors.get_session(user_id=session.user_id, session_id=session.session_id)

    document = json.loads("".join(exporters.render_session(session, "json")))["data"]
    lines = [json.loads(line) for line in exporters.ndjson_lines(session.user_id)]

    assert [(m["branch"], m["order"], m["content"]) for m in document["messages"]] == [
        (0, 1, "q1"),
        (0, 2, "a1"),
        (0, 3, "q2"),
        (0, 4, "a2"),
        (1, 2, "a1 again"),
    ]
    assert document["session"]["message_count"] == 5
    assert document["session"]["active_branch"] == 1
    assert document["session"]["branches"] == [
        {"id": 1, "parent": 0, "first": 2, "fork_message_id": stored[0].message_id, "tip": 2}
    ]
    assert [line["content"] for line in lines if line["type"] == "message"] == [
        "q1",
        "a1",
        "q2",
        "a2",
        "a1 again",
    ]


def test_exports_people_read_hold_the_active_path() -> None:
    session, stored = conversation(2)
    regenerate(session, stored[1], "a1 again")
    session = selectors.get_session(user_id=session.user_id, session_id=session.session_id)

    markdown = "".join(exporters.render_session(session, "md"))
    csv_rows = "".join(exporters.render_session(session, "csv")).splitlines()

    assert "a1 again" in markdown
    assert "\na1\n" not in markdown
    assert "q2" not in markdown
    assert "- Messages: 2\n" in markdown
    assert len(csv_rows) == 3


def test_statistics_count_every_stored_message_and_start_at_the_shown_first_one() -> None:
    session, stored = conversation(2)
    edit(session, stored[0], "q1 v2", "a1 v2")

    stats = selectors.session_statistics(session=session)

    assert stats["total_messages"] == 6


def test_showing_a_message_already_on_the_active_path_keeps_the_branch() -> None:
    session, stored = conversation(3)
    regenerate(session, stored[5], "a3 again")

    switch_branch(session=session, message=stored[1])

    assert session.active_branch == 1
    assert contents(session) == ["q1", "a1", "q2", "a2", "q3", "a3 again"]


def test_messages_and_sessions_written_before_branches_read_after_the_migration() -> None:
    """Documents without ``branch`` / ``active_branch`` / ``branches`` (written before 0007) get
    them from the migration's backfill and read as the original line."""
    migration = importlib.import_module("chats.migrations.0007_branches")
    session = session_with_messages(messages=3)
    owned = {"user_id": Int64(session.user_id), "session_id": session.pk}
    store.collection(ChatMessage).update_many(owned, {"$unset": {"branch": ""}})
    store.collection(ChatSession).update_one(
        {"_id": session.pk, "user_id": Int64(session.user_id)},
        {"$unset": {"active_branch": "", "branches": ""}},
    )
    editor = SimpleNamespace(connection=SimpleNamespace(vendor="mongodb", database=store.database()))

    migration.backfill_and_swap_index(None, editor)
    migration.backfill_and_swap_index(None, editor)  # a rerun changes nothing

    fresh = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    assert (fresh.active_branch, fresh.branches) == (0, [])
    assert [m.order for m in selectors.message_page(session=fresh, limit=10).items] == [1, 2, 3]
    indexes = store.collection(ChatMessage).index_information()
    assert indexes["uniq_message_branch_order"]["key"] == [
        ("user_id", 1),
        ("session_id", 1),
        ("branch", 1),
        ("order", 1),
    ]
    assert "uniq_message_order" not in indexes


def test_chat_history_pairs_each_question_with_the_reply_shown_after_it() -> None:
    session, stored = conversation(2)
    regenerate(session, stored[3], "a2 again")

    history = selectors.latest_exchanges(user_id=session.user_id, limit=5)

    assert [(item["message"], item["response"]) for item in history] == [("q2", "a2 again"), ("q1", "a1")]


def test_a_sibling_list_reads_exactly_its_messages_by_index() -> None:
    session, stored = conversation(3)
    second = regenerate(session, stored[3], "a2 v2")
    regenerate(session, second, "a2 v3")
    message = selectors.get_message(user_id=session.user_id, message_id=stored[3].message_id)

    aggregations = captured_aggregations(lambda: selectors.message_siblings(message=message))

    assert len(aggregations) == 3  # one exact key per version
    for collection, pipeline in aggregations:
        stats = explain(collection, pipeline)
        assert "IXSCAN" in stats["stages"], stats
        assert stats["totalDocsExamined"] == 1, stats
