"""Store round trips of the two hottest requests, through the test client with token authentication:
a chat turn and the newest page of a session. They cannot creep back up unnoticed. The turn's
write to the recent-history cache counts: one pipeline (one round trip on Redis)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.chats.factories import session_with_messages
from tests.factories import token_for
from tests.support.round_trips import round_trips

pytestmark = pytest.mark.django_db(databases=["default", "replica", "chats"], transaction=False)

# MongoDB + SQL: 12 for the turn itself (issue 14), plus the search vocabulary's upkeep (issue 19:
# postings are bucketed by the terms' counts): per stored message (question, reply) one read of the
# counts; the counting itself is deferred to a job (chats.search_index), which a worker runs every
# few appends and a minute at the latest, outside the request. Each part has its own budget, so
# neither hides in the other.
TURN_BUDGET_WITHOUT_SEARCH = 12
SEARCH_VOCABULARY_BUDGET = 2
TURN_BUDGET = TURN_BUDGET_WITHOUT_SEARCH + SEARCH_VOCABULARY_BUDGET
TURN_CACHE_BUDGET = 1  # the recent-history pipeline
PAGE_BUDGET = 3


def _token_client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


def test_a_chat_turn_costs_at_most_14_store_round_trips_and_one_cache_pipeline(patient: User) -> None:
    session = session_with_messages(user_id=patient.pk, messages=4)
    client = _token_client(patient)
    client.post("/api/chat/send", {"session_id": session.session_id, "message": "warm-up"}, format="json")

    with round_trips() as counted:
        response = client.post(
            "/api/chat/send",
            {"session_id": session.session_id, "message": "Can I take ibuprofen?"},
            format="json",
        )

    assert response.status_code == 201, response.content
    print(f"turn: {counted}")
    vocabulary = [command for command in counted.mongo if command.endswith(" chat_search_terms")]
    assert len(counted.cache) == TURN_CACHE_BUDGET, str(counted)
    assert len(vocabulary) <= SEARCH_VOCABULARY_BUDGET, str(counted)
    assert counted.total - len(vocabulary) <= TURN_BUDGET_WITHOUT_SEARCH + TURN_CACHE_BUDGET, str(counted)
    assert counted.total <= TURN_BUDGET + TURN_CACHE_BUDGET, str(counted)


def test_the_newest_page_of_a_session_costs_at_most_3_round_trips(patient: User) -> None:
    session = session_with_messages(user_id=patient.pk, messages=60)
    client = _token_client(patient)

    with round_trips() as counted:
        response = client.get(f"/api/chat/sessions/{session.session_id}/messages")

    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 50
    print(f"page: {counted}")
    assert counted.cache == [], "the cache is never read while MongoDB answers"
    assert counted.total <= PAGE_BUDGET, str(counted)
