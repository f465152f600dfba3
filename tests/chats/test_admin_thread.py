"""Staff read a patient's conversation in the admin: the thread view, its permission and its audit."""

from __future__ import annotations

from decimal import Decimal

import pymongo
import pytest
from bson import Int64
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from chats import services, store
from chats.models import ChatMessage, ChatSession
from tests.chats.factories import bulk_messages, exchange, session_with_messages
from tests.factories import make_staff, make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def _staff(username: str, *permissions: str) -> User:
    user = make_user(username=username, is_staff=True, role=User.Role.STAFF)
    for codename in permissions:
        app_label, _, name = codename.partition(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=name))
    return user


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def reader() -> Client:
    return _client(_staff("support-reader", "chats.view_chatsession", "accounts.read_patient_chats"))


def _page(client: Client, session: ChatSession, query: str = "") -> str:
    response = client.get(f"/admin/chats/chatsession/{session.pk}/change/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_staff_with_the_permission_reads_the_whole_conversation_on_the_session_page(reader: Client) -> None:
    owner = make_user(username="thread-patient")
    session = services.start_session(user_id=owner.pk, title="Migraine")
    _, reply, _ = exchange(
        session=session,
        user_content="Line one\nline two <b>not bold</b>",
        reply=services.Reply(
            content="**Rest** and <script>alert(1)</script> drink water",
            model="medibot-small",
            prompt_tokens=12,
            completion_tokens=30,
            cost=Decimal("0.00042"),
            source_documents=[{"title": "NHS: Migraine", "url": "https://www.nhs.uk/conditions/migraine/"}],
        ),
    )
    services.vote(message=reply, user_id=owner.pk, vote_type="up")

    page = _page(reader, session)

    assert "Line one\nline two &lt;b&gt;not bold&lt;/b&gt;" in page
    assert "**Rest** and &lt;script&gt;alert(1)&lt;/script&gt; drink water" in page
    assert "<script>alert(1)" not in page
    assert "model medibot-small" in page
    assert "owner's vote: up" in page
    assert "12 + 30 = 42 tokens, cost 0.00042" in page
    assert "NHS: Migraine · https://www.nhs.uk/conditions/migraine/" in page
    assert "messages 1-2 of 2" in page


def test_session_page_links_the_owner_their_conversations_and_ehr_profile(reader: Client) -> None:
    owner = make_user(username="linked-patient")
    session = session_with_messages(user_id=owner.pk, messages=1)
    page = _page(reader, session)
    assert f'href="/admin/accounts/user/{owner.pk}/change/">linked-patient</a>' in page
    assert f'href="/admin/chats/chatsession/?user_id={owner.pk}">all conversations</a>' in page
    assert f'href="/admin/ehr/patientprofile/?user__id__exact={owner.pk}">EHR profile</a>' in page


def test_staff_without_the_permission_gets_403_and_the_refusal_is_audited() -> None:
    owner = make_user(username="guarded-patient")
    session = session_with_messages(user_id=owner.pk, messages=2)
    viewer = _staff("support-no-read", "chats.view_chatsession", "chats.view_chatmessage")
    client = _client(viewer)

    assert client.get("/admin/chats/chatsession/").status_code == 200
    assert client.get(f"/admin/chats/chatsession/{session.pk}/change/").status_code == 403
    assert client.get("/admin/chats/chatmessage/").status_code == 403
    denied = AuditEvent.objects.filter(outcome=AuditEvent.Outcome.DENIED)
    assert list(denied.values_list("actor_id", "owner_id", "object_id")) == [
        (viewer.pk, owner.pk, session.session_id)
    ]


def test_each_conversation_page_view_writes_exactly_one_audit_event(reader: Client) -> None:
    owner = make_user(username="audited-patient")
    session = bulk_messages(session=services.start_session(user_id=owner.pk), count=120)

    _page(reader, session)
    _page(reader, session, "?before=71")

    events = list(AuditEvent.objects.order_by("sequence"))
    assert [(e.action, e.object_type, e.object_id, e.owner_id, e.detail) for e in events] == [
        ("read", "chats.chatsession", session.session_id, owner.pk, "messages 71-120 of 120"),
        ("read", "chats.chatsession", session.session_id, owner.pk, "messages 21-70 of 120"),
    ]


def test_the_patient_sees_the_staff_name_and_the_messages_opened_in_their_access_log(reader: Client) -> None:
    owner = make_user(username="log-patient")
    session = session_with_messages(user_id=owner.pk, messages=3)
    _page(reader, session)

    api = APIClient()
    api.force_authenticate(owner)
    (row,) = api.get("/api/audit/me").json()["results"]

    assert (row["actor"], row["object_id"], row["detail"]) == (
        "support-reader",
        session.session_id,
        "messages 1-3 of 3",
    )


def _counted(client: Client, path: str) -> tuple[int, int]:
    with (
        CaptureQueriesContext(connections["default"]) as mysql,
        CaptureQueriesContext(connections["chats"]) as mongo,
    ):
        assert client.get(path).status_code == 200
    return len(mysql), len(mongo)


@pytest.mark.slow
def test_a_10000_message_session_pages_back_with_the_queries_of_a_10_message_one(reader: Client) -> None:
    owner = make_user(username="long-patient")
    short = bulk_messages(session=services.start_session(user_id=owner.pk), count=10)
    long = bulk_messages(session=services.start_session(user_id=owner.pk), count=10_000)
    base = "/admin/chats/chatsession/{}/change/"
    reader.get(base.format(short.pk))  # warms the per-process caches (content types)
    try:
        short_page = _counted(reader, base.format(short.pk))
        newest = _counted(reader, base.format(long.pk))
        older = _counted(reader, base.format(long.pk) + "?before=9951")
        oldest = _counted(reader, base.format(long.pk) + "?before=51")
        page = reader.get(base.format(long.pk) + "?before=9951").content.decode()
    finally:
        # 10,000 documents take longer than the flush's deadline, and than the erasure's bounded
        # transaction, to delete: plain deletes by owner, with a long deadline.
        with pymongo.timeout(600):
            for model in (ChatMessage, ChatSession):
                store.collection(model).delete_many({"user_id": Int64(owner.pk)})

    assert newest == older == oldest == short_page
    assert newest[1] <= 5  # the session, its messages by order range, votes, usage (and nothing per message)
    assert "messages 9901-9950 of 10000" in page
    assert "bulk message 9901 about blood pressure" in page
    assert "bulk message 9951 " not in page
    assert 'href="?before=9901"' in page
    assert 'href="?after=9950"' in page


def test_session_actions_need_change_or_read_permission() -> None:
    owner = make_user(username="action-patient")
    session = session_with_messages(user_id=owner.pk, messages=1)
    viewer = _client(_staff("support-viewer", "chats.view_chatsession"))

    viewer.post("/admin/chats/chatsession/", {"action": "archive", "_selected_action": [str(session.pk)]})
    exported = viewer.post(
        "/admin/chats/chatsession/", {"action": "export_json", "_selected_action": [str(session.pk)]}
    )

    assert ChatSession.objects.get(pk=session.pk).is_archived is False
    assert not hasattr(exported, "streaming_content")


def test_session_page_offers_only_the_actions_the_staff_member_may_take(reader: Client) -> None:
    session = session_with_messages(user_id=make_user(username="offer-patient").pk, messages=1)
    page = _page(reader, session)
    assert 'value="export_json"' in page
    assert 'value="archive"' not in page


def test_a_message_page_links_to_the_message_in_its_thread() -> None:
    reader_with_messages = _client(
        _staff(
            "message-reader",
            "chats.view_chatsession",
            "chats.view_chatmessage",
            "accounts.read_patient_chats",
        )
    )
    session = session_with_messages(user_id=make_user(username="linked-message-patient").pk, messages=3)
    message = ChatMessage.objects.get(session_id=session.pk, order=2)

    page = reader_with_messages.get(f"/admin/chats/chatmessage/{message.pk}/change/").content.decode()
    thread = _page(reader_with_messages, session, "?before=3")

    assert f'href="/admin/chats/chatsession/{session.pk}/change/?before=3#message-2"' in page
    assert 'id="message-2"' in thread
    assert 'id="message-3"' not in thread


def test_the_thread_shows_a_replys_delivery_status_over_whatsapp(reader: Client) -> None:
    owner = make_user(username="whatsapp-thread-patient")
    session = services.start_session(user_id=owner.pk, channel="whatsapp")
    _, reply, _ = exchange(session=session, user_content="hello", reply=services.Reply(content="Hi there"))
    for status in ("sent", "failed"):
        services.record_delivery_status(
            user_id=owner.pk,
            message_id=reply.message_id,
            channel="whatsapp",
            status=status,
            at=timezone.now(),
            error={"code": 131026, "title": "Message undeliverable"} if status == "failed" else None,
        )

    page = _page(reader, session)

    assert "delivery whatsapp: failed (error 131026)" in page


def test_the_privacy_officer_group_reads_threads_and_support_does_not() -> None:
    """The admin checks the staff API's own permission, granted through the same groups."""
    session = session_with_messages(user_id=make_user(username="grouped-patient").pk, messages=2)
    officer = _client(make_staff(username="officer", groups=("Privacy officer",)))
    support = _client(make_staff(username="supporter", groups=("Support",)))

    assert officer.get(f"/admin/chats/chatsession/{session.pk}/change/").status_code == 200
    assert support.get(f"/admin/chats/chatsession/{session.pk}/change/").status_code == 403
