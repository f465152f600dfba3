"""The chat REST API through HTTP, against the real stores."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from chats import selectors, services
from chats.models import ChatMessage, ChatSession, MessageVote, Role
from tests.chats.factories import exchange as stored_exchange
from tests.chats.factories import session_with_messages

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def make_session(user: User, messages: int = 0, **fields: Any) -> ChatSession:
    return session_with_messages(user_id=user.pk, messages=messages, **fields)


def exchange(user: User, session: ChatSession | None = None) -> tuple[ChatSession, ChatMessage]:
    session = session or make_session(user)
    _, assistant, _ = stored_exchange(
        session=session,
        user_content="What is a normal resting heart rate?",
        reply=services.Reply(
            content="Usually 60 to 100 beats per minute.",
            model="m1",
            prompt_tokens=10,
            completion_tokens=6,
            cost=Decimal("0.0016"),
        ),
    )
    return session, assistant


def test_anonymous_requests_are_401() -> None:
    client = APIClient()
    for method, url in [
        ("get", "/api/chat/sessions"),
        ("post", "/api/chat/send"),
        ("get", "/api/conversations"),
        ("get", "/api/chat-history"),
        ("get", "/api/chat/search?q=x"),
    ]:
        assert getattr(client, method)(url).status_code == 401, url


def test_create_get_and_list_sessions(alice: APIClient) -> None:
    created = alice.post(
        "/api/chat/sessions", {"title": "BP log", "tags": ["bp"], "metadata": {"k": "v"}}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["conversation_id"] == body["session_id"]
    assert (body["title"], body["tags"], body["channel"]) == ("BP log", ["bp"], "api")

    assert alice.get(f"/api/chat/sessions/{body['session_id']}").json()["title"] == "BP log"
    listed = alice.get("/api/chat/sessions").json()
    assert [s["session_id"] for s in listed["results"]] == [body["session_id"]]
    assert alice.get("/api/conversations").json()["results"][0]["session_id"] == body["session_id"]


def test_client_chosen_session_id_conflict_is_409(alice: APIClient) -> None:
    assert (
        alice.post("/api/chat/sessions", {"session_id": "my_session_123"}, format="json").status_code == 201
    )
    again = alice.post("/api/chat/sessions", {"session_id": "my_session_123"}, format="json")
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]


def test_session_list_cursor_pages_and_page_size_cap(alice: APIClient, patient: User) -> None:
    for number in range(5):
        make_session(patient, title=f"s{number}")
    first = alice.get("/api/chat/sessions?page_size=2").json()
    second = alice.get(f"/api/chat/sessions?page_size=2&cursor={first['next_cursor']}").json()
    third = alice.get(f"/api/chat/sessions?page_size=2&cursor={second['next_cursor']}").json()
    titles = [s["title"] for page in (first, second, third) for s in page["results"]]
    assert titles == ["s4", "s3", "s2", "s1", "s0"]
    assert third["next_cursor"] is None
    too_big = alice.get("/api/chat/sessions?page_size=101")
    assert too_big.status_code == 400
    assert "page_size" in too_big.json()
    assert alice.get("/api/chat/sessions?cursor=garbage").status_code == 400


def test_patch_changes_allowed_fields_and_refuses_read_only_ones(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=2)
    url = f"/api/chat/sessions/{session.session_id}"
    changed = alice.patch(url, {"title": "Renamed", "is_pinned": True}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["title"], changed.json()["is_pinned"]) == ("Renamed", True)

    for field, value in [("message_count", 99), ("user_id", 1), ("created_at", "2000-01-01T00:00:00Z")]:
        refused = alice.patch(url, {field: value}, format="json")
        assert refused.status_code == 400, field
        assert field in refused.json()
    stored = ChatSession.objects.get(pk=session.pk)
    assert (stored.message_count, stored.user_id) == (2, patient.pk)


def test_soft_delete_restore_and_permanent_delete(alice: APIClient, patient: User) -> None:
    session, _ = exchange(patient)
    url = f"/api/chat/sessions/{session.session_id}"
    assert alice.delete(url).status_code == 204
    assert alice.get(url).status_code == 404
    assert alice.post(f"{url}/restore").json()["deleted_at"] is None
    removed = alice.delete(f"{url}/permanent").json()
    assert {
        key: removed[key] for key in ("sessions", "messages", "votes", "token_usage", "completed", "kept")
    } == {
        "sessions": 1,
        "messages": 2,
        "votes": 0,
        "token_usage": 1,
        "completed": True,
        "kept": [],
    }
    assert alice.get(url).status_code == 404
    assert ChatMessage.objects.filter(session_id=session.pk).count() == 0


def test_messages_page_backwards_with_cursors(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=7)
    url = f"/api/chat/sessions/{session.session_id}/messages"
    newest = alice.get(f"{url}?limit=3").json()
    assert [m["order"] for m in newest["results"]] == [5, 6, 7]
    assert newest["results"][0]["session_id"] == session.session_id
    older = alice.get(f"{url}?limit=3&before={newest['older_cursor']}").json()
    assert [m["order"] for m in older["results"]] == [2, 3, 4]
    assert (
        alice.get(f"/api/conversation/{session.session_id}/messages?limit=2").json()["results"][-1]["order"]
        == 7
    )
    assert alice.get(f"{url}?limit=500").status_code == 400
    assert alice.get(f"{url}?before=2&after=1").status_code == 400


def test_full_session_is_capped_with_a_cursor(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=5)
    full = alice.get(f"/api/chat/sessions/{session.session_id}/full?limit=2").json()
    assert full["session"]["message_count"] == 5
    assert [m["order"] for m in full["messages"]] == [4, 5]
    assert (full["has_older"], full["older_cursor"]) == (True, 4)


def test_statistics_and_token_usage(alice: APIClient, patient: User) -> None:
    session, assistant = exchange(patient)
    services.vote(message=assistant, user_id=patient.pk, vote_type="down")
    stats = alice.get(f"/api/chat/sessions/{session.session_id}/statistics").json()
    assert stats["total_messages"] == 2
    assert stats["message_counts_by_role"]["assistant"] == 1
    assert (stats["total_tokens"], Decimal(stats["total_cost"])) == (16, Decimal("0.0016"))
    assert stats["votes"] == {"up": 0, "down": 1}
    usage = alice.get(f"/api/chat/sessions/{session.session_id}/token-usage").json()
    assert usage["by_model"]["m1"]["total_tokens"] == 16
    overall = alice.get("/api/chat/token-usage?since=2000-01-01T00:00:00Z").json()
    assert overall["total_tokens"] == 16
    assert alice.get("/api/chat/token-usage?since=yesterday").status_code == 400


def test_search_returns_sessions_and_marked_snippets(alice: APIClient, patient: User, intruder: User) -> None:
    session = make_session(patient, title="Fever diary")
    services.append_message(session=session, role=Role.USER, content="I have fevers at night")
    other = make_session(intruder)
    services.append_message(session=other, role=Role.USER, content="my fever too")
    body = alice.get("/api/chat/search?q=Fever").json()["data"]
    assert [s["session_id"] for s in body["sessions"]] == [session.session_id]
    assert [m["session_id"] for m in body["messages"]] == [session.session_id]
    assert "<mark>fevers</mark>" in body["messages"][0]["snippet"]
    assert alice.get("/api/chat/search?q=").status_code == 400
    assert alice.get("/api/chat/search?q=%28a%2B%29%2B%24").status_code == 200


def test_search_pages_by_cursor_and_sorts_by_relevance(alice: APIClient, patient: User) -> None:
    session = make_session(patient)
    for content in ["insulin dose", "pressure and insulin", "insulin again"]:
        services.append_message(session=session, role=Role.USER, content=content)

    first = alice.get("/api/chat/search?q=insulin&limit=2").json()["data"]
    second = alice.get(f"/api/chat/search?q=insulin&limit=2&cursor={first['next_cursor']}").json()["data"]
    ranked = alice.get("/api/chat/search?q=insulin&sort=relevance").json()["data"]

    assert [m["order"] for m in first["messages"]] == [3, 2]
    assert first["has_more"] is True
    assert [m["order"] for m in second["messages"]] == [1]
    assert second["has_more"] is False
    assert second["next_cursor"] is None
    assert {"score", "snippet", "created_at"} <= set(ranked["messages"][0])
    assert alice.get("/api/chat/search?q=insulin&sort=oldest").status_code == 400
    assert alice.get("/api/chat/search?q=insulin&cursor=%7B%7D").status_code == 400


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [("json", "application/json"), ("csv", "text/csv"), ("md", "text/markdown"), ("txt", "text/plain")],
)
def test_session_export_formats(alice: APIClient, patient: User, fmt: str, content_type: str) -> None:
    session, _ = exchange(patient)
    response = alice.get(f"/api/chat/sessions/{session.session_id}/export?format={fmt}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert f'filename="medibot-chat-{session.session_id}.{fmt}"' in response["Content-Disposition"]
    body = streamed(response).decode()
    if fmt == "json":
        data = json.loads(body)["data"]
        assert data["session"]["session_id"] == session.session_id
        assert [m["role"] for m in data["messages"]] == ["user", "assistant"]
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(body)))
        assert rows[0][:3] == ["order", "created_at", "role"]
        assert len(rows) == 3
    else:
        assert "Usually 60 to 100 beats per minute." in body


def test_unknown_export_format_is_400(alice: APIClient, patient: User) -> None:
    session = make_session(patient)
    response = alice.get(f"/api/chat/sessions/{session.session_id}/export?format=exe")
    assert response.status_code == 400
    assert "format must be one of" in response.json()["detail"]


def test_export_all_as_ndjson_and_zip_with_manifest(alice: APIClient, patient: User) -> None:
    first, _ = exchange(patient)
    second = make_session(patient, messages=1)
    lines = [json.loads(line) for line in streamed(alice.get("/api/chat/export")).splitlines()]
    assert [line["type"] for line in lines].count("session") == 2
    assert [line["type"] for line in lines].count("message") == 3

    archive = zipfile.ZipFile(io.BytesIO(streamed(alice.get("/api/chat/export?format=zip"))))
    manifest = json.loads(archive.read("manifest.json"))
    names = {entry["name"] for entry in manifest["files"]}
    assert names == {f"sessions/{first.session_id}.json", f"sessions/{second.session_id}.json"}
    import hashlib

    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]


def test_votes_one_per_user_and_removable(alice: APIClient, patient: User) -> None:
    _, assistant = exchange(patient)
    url = f"/api/chat/messages/{assistant.message_id}/vote"
    assert alice.post(url, {"vote_type": "up"}, format="json").json()["vote_type"] == "up"
    changed = alice.post(url, {"vote_type": "down", "reason": "unclear"}, format="json").json()
    assert (changed["vote_type"], changed["reason"]) == ("down", "unclear")
    assert MessageVote.objects.filter(message_id=assistant.pk).count() == 1
    assert alice.post(url, {"vote_type": "sideways"}, format="json").status_code == 400
    assert alice.delete(url).status_code == 204
    assert alice.delete(url).status_code == 404


def test_clear_all_removes_only_the_callers_chats(alice: APIClient, patient: User, intruder: User) -> None:
    exchange(patient)
    theirs, _ = exchange(intruder)
    assert alice.delete("/api/chat-history/clear-all").json()["messages"] == 2
    assert ChatMessage.objects.filter(session_id=theirs.pk).count() == 2


def test_chat_history_pairs_questions_with_answers(alice: APIClient, patient: User) -> None:
    session, _ = exchange(patient)
    exchange(patient, session)
    history = alice.get("/api/chat-history?limit=5").json()
    assert len(history) == 2
    assert history[0]["conversation_id"] == session.session_id
    assert history[0]["response"] == "Usually 60 to 100 beats per minute."


def test_health_reports_every_store_without_credentials() -> None:
    response = APIClient().get("/api/chat/health")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["down"] == []
    assert (body["relational"], body["mongodb"]) == ("ok", "ok")
    assert "mongodb://" not in json.dumps(body)


def test_staff_routes_are_403_for_patients_and_work_for_staff(
    alice: APIClient, staff_client: APIClient, patient: User
) -> None:
    exchange(patient)
    routes = [
        "/api/chat/statistics/global",
        "/api/admin/users",
        f"/api/admin/users/{patient.pk}/conversations",
        "/api/admin/stats",
        "/api/admin/latest-chats",
    ]
    for url in routes:
        assert alice.get(url).status_code == 403, url
        assert staff_client.get(url).status_code == 200, url
    assert alice.post("/api/chat/cleanup?days_old=30").status_code == 403
    users = staff_client.get("/api/admin/users").json()["results"]
    row = next(user for user in users if user["id"] == patient.pk)
    assert (row["session_count"], row["message_count"]) == (1, 2)
    assert staff_client.get("/api/admin/latest-chats").json()[0]["username"] == "alice"
    cleanup = staff_client.post("/api/chat/cleanup?days_old=30&dry_run=true")
    assert cleanup.status_code == 200
    assert cleanup.json()["dry_run"] is True


def test_chat_responses_are_never_cached(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=1)
    response = alice.get(f"/api/chat/sessions/{session.session_id}/messages")
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "body",
    [
        {"title": {"$ne": None}},
        {"tags": {"$gt": ""}},
        {"metadata": {"$where": "1"}},
        {"title": ["a"]},
        {"metadata": {"n": 2**64}},
    ],
)
def test_operator_smuggling_in_bodies_is_400_and_writes_nothing(
    alice: APIClient, patient: User, body: dict[str, Any]
) -> None:
    session = make_session(patient)
    response = alice.patch(f"/api/chat/sessions/{session.session_id}", body, format="json")
    assert response.status_code == 400
    assert ChatSession.objects.get(pk=session.pk).title == session.title


def test_query_count_of_a_session_list_does_not_grow_with_data(alice: APIClient, patient: User) -> None:
    def counted() -> tuple[int, int]:
        with (
            CaptureQueriesContext(connections["default"]) as mysql,
            CaptureQueriesContext(connections["chats"]) as mongo,
        ):
            assert alice.get("/api/chat/sessions?page_size=50").status_code == 200
        return len(mysql), len(mongo)

    # pinned sessions, then at most SESSION_SLICES + 1 updated_at slices: a constant bound
    bound = 2 + selectors.SESSION_SLICES
    make_session(patient, messages=1)
    small = counted()
    for _ in range(30):
        make_session(patient, messages=1)
    large = counted()
    assert small[0] == large[0]
    assert max(small[1], large[1]) <= bound, (small, large)


def test_message_page_query_count_does_not_grow_with_the_page(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=40)

    def counted(limit: int) -> int:
        with CaptureQueriesContext(connections["chats"]) as mongo:
            alice.get(f"/api/chat/sessions/{session.session_id}/messages?limit={limit}")
        return len(mongo)

    assert counted(2) == counted(40) <= 3  # session, the page, the caller's votes on it


def test_selectors_agree_with_api_on_newest_page(alice: APIClient, patient: User) -> None:
    session = make_session(patient, messages=3)
    api_orders = [
        m["order"] for m in alice.get(f"/api/chat/sessions/{session.session_id}/messages").json()["results"]
    ]
    assert api_orders == [m.order for m in selectors.message_page(session=session).items]


def test_message_pages_show_the_callers_own_vote_only(
    alice: APIClient, patient: User, intruder: User
) -> None:
    session, assistant = exchange(patient)
    services.vote(message=assistant, user_id=patient.pk, vote_type="down")
    services.vote(message=assistant, user_id=intruder.pk, vote_type="up")

    page = alice.get(f"/api/chat/sessions/{session.session_id}/messages").json()["results"]
    full = alice.get(f"/api/chat/sessions/{session.session_id}/full").json()["messages"]

    assert [m["my_vote"] for m in page] == [None, "down"]
    assert [m["my_vote"] for m in full] == [None, "down"]
