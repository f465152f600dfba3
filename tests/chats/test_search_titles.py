"""Session-title search (issue 19) is bounded: titles have no postings, so a search matches titles
within the user's ``TITLE_SCAN_LIMIT`` most recently active sessions, read as the session list
reads them (newest-first index slices), however many sessions the user has or titles match."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chats import selectors
from chats.selectors.search import TITLE_SCAN_LIMIT
from tests.chats.explain import captured_aggregations, explain
from tests.chats.factories import bulk_sessions, next_user_id

pytestmark = pytest.mark.django_db(databases=["chats"])

HOURLY = timedelta(hours=1)


def _title_search_cost(user_id: int) -> tuple[list[str], int]:
    """The session ids the search lists and the session documents its reads examine."""
    found: list[selectors.SearchResult] = []
    aggregations = captured_aggregations(
        lambda: found.append(selectors.search_chats(query="insulin", user_id=user_id, limit=20))
    )
    examined = sum(
        explain(collection, pipeline)["totalDocsExamined"]
        for collection, pipeline in aggregations
        if collection == "chat_sessions"
    )
    return [session.session_id for session in found[0].sessions], examined


def test_title_matches_are_the_most_recently_active_first_one_page_long() -> None:
    sessions = bulk_sessions(user_id=next_user_id(), count=12, title="insulin diary", spacing=HOURLY)
    bulk_sessions(user_id=next_user_id(), count=5, title="insulin diary")  # another user's

    result = selectors.search_chats(query="insulin", user_id=sessions[0].user_id, limit=5)

    assert [s.session_id for s in result.sessions] == [s.session_id for s in reversed(sessions)][:5]


def test_the_title_search_reads_a_bounded_number_of_sessions_as_they_grow() -> None:
    few, many = next_user_id(), next_user_id()
    few_sessions = bulk_sessions(
        user_id=few, count=TITLE_SCAN_LIMIT // 4, title="insulin diary", spacing=HOURLY
    )
    many_sessions = bulk_sessions(
        user_id=many, count=TITLE_SCAN_LIMIT * 6, title="insulin diary", spacing=HOURLY
    )

    few_listed, few_examined = _title_search_cost(few)
    many_listed, many_examined = _title_search_cost(many)

    assert few_listed == [s.session_id for s in reversed(few_sessions)][:20]
    assert many_listed == [s.session_id for s in reversed(many_sessions)][:20]
    assert few_examined <= TITLE_SCAN_LIMIT // 4
    assert many_examined <= 3 * TITLE_SCAN_LIMIT, many_examined  # not the 600 sessions that match
