"""A patient's WhatsApp conversation: the same chat sessions as the web, replies sent exactly once."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from chats.models import ChatMessage, ChatSession
from tests.chats.fake_llm_server import FakeLlmServer
from tests.factories import make_user
from tests.whatsapp import deliveries
from tests.whatsapp.conftest import post, run_worker
from tests.whatsapp.fake_graph_server import FakeGraphApi
from whatsapp import services, tasks, texts
from whatsapp.models import Contact, InboundMessage, LinkCode, OutboundPart, OutboundReply

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

User = get_user_model()


def known_patient(phone: str = "+4915112345678") -> Any:
    return make_user(username=f"pat-{phone[-6:]}", phone_number=phone)


def user_messages(user_id: int) -> list[ChatMessage]:
    return list(ChatMessage.objects.filter(user_id=user_id, role="user").order_by("created_at"))


def answers_to(fake: FakeGraphApi, phone: str) -> list[str]:
    return [sent.text for sent in fake.accepted() if sent.to == phone.lstrip("+")]


def test_a_text_message_is_stored_answered_and_keeps_its_outbound_id(
    channel: FakeGraphApi,
) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "I have a headache"))
    run_worker()
    [asked] = user_messages(patient.pk)
    assert asked.content == "I have a headache"
    session = ChatSession.objects.get(user_id=patient.pk)
    assert session.channel == "whatsapp"
    [sent] = channel.accepted()
    assert sent.to == "4915112345678"
    assert sent.authorization == f"Bearer {deliveries.ACCESS_TOKEN}"
    assert sent.path == f"/v23.0/{deliveries.PHONE_NUMBER_ID}/messages"
    reply = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    [part] = OutboundPart.objects.all()
    assert reply.metadata["delivery"]["outbound_ids"] == [part.wamid]
    assert reply.metadata["delivery"]["status"] == "accepted"
    assert InboundMessage.objects.get().text == ""  # handed to the chat store, not kept
    assert OutboundReply.objects.get().text == ""


def test_the_same_delivery_three_times_is_stored_and_answered_once(channel: FakeGraphApi) -> None:
    patient = known_patient()
    document = deliveries.text("4915112345678", "hello there")
    for _ in range(3):
        post(document)
        run_worker()
    assert len(user_messages(patient.pk)) == 1
    assert len(channel.accepted()) == 1


def test_the_same_delivery_posted_concurrently_is_stored_and_answered_once(channel: FakeGraphApi) -> None:
    patient = known_patient()
    document = deliveries.text("4915112345678", "hello at once")
    barrier = threading.Barrier(3)
    codes: list[int] = []

    def deliver() -> None:
        barrier.wait()
        codes.append(post(document, client=Client()).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert codes == [200, 200, 200]
    inbound = InboundMessage.objects.get()
    outcomes: list[str] = []
    workers = [
        threading.Thread(target=lambda: outcomes.append(services.handle_inbound(inbound_id=inbound.pk)))
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sorted(outcomes) == ["already_claimed", "answered"]
    run_worker()
    assert len(user_messages(patient.pk)) == 1
    assert len(channel.accepted()) == 1


def test_a_retried_send_task_never_sends_a_reply_twice(channel: FakeGraphApi) -> None:
    known_patient()
    post(deliveries.text("4915112345678", "hello"))
    run_worker()
    reply = OutboundReply.objects.get()
    assert services.send_reply(reply_id=reply.pk) == "not_claimed"
    assert tasks.send_reply.apply(args=[reply.pk]).get() == "not_claimed"
    assert len(channel.accepted()) == 1


def test_statuses_update_the_reply_and_a_late_delivered_never_hides_read(
    channel: FakeGraphApi,
) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "hello"))
    run_worker()
    wamid = OutboundPart.objects.get().wamid
    for state in ("sent", "read", "delivered"):
        assert post(deliveries.status(wamid, state, "4915112345678")).status_code == 200
        tasks.apply_statuses.apply(args=[[_status_item(wamid, state)]])
    reply = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    assert reply.metadata["delivery"]["status"] == "read"
    assert set(reply.metadata["delivery"]["events"]) == {"accepted", "sent", "read", "delivered"}


def test_a_failed_status_is_stored_with_its_error_code(channel: FakeGraphApi) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "hello"))
    run_worker()
    wamid = OutboundPart.objects.get().wamid
    services.apply_status(update=_status(wamid, "failed", error_code=131026))
    reply = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    assert reply.metadata["delivery"]["status"] == "failed"
    assert reply.metadata["delivery"]["error"]["code"] == 131026
    assert OutboundPart.objects.get().error_code == 131026


def test_a_status_for_a_message_we_did_not_send_is_ignored(channel: FakeGraphApi) -> None:
    assert services.apply_status(update=_status("wamid.not-ours", "read")) is False


def test_an_unknown_number_gets_an_account_without_password_and_the_welcome(
    channel: FakeGraphApi,
) -> None:
    post(deliveries.text("447700900123", "hi"))
    run_worker()
    account = User.objects.get(phone_number="+447700900123")
    assert not account.has_usable_password()
    texts_sent = answers_to(channel, "+447700900123")
    assert texts_sent[0].startswith("Hello, this is Medibot")
    assert "LINK" in texts_sent[0]
    assert len(texts_sent) == 2  # the welcome, then the answer
    assert len(user_messages(account.pk)) == 1


def test_a_known_number_is_matched_to_its_account_without_a_welcome(channel: FakeGraphApi) -> None:
    patient = known_patient("+4915112345678")
    post(deliveries.text("0049 151 12345678".replace(" ", "")[2:], "hi"))
    run_worker()
    assert Contact.objects.get().user_id == patient.pk
    assert len(channel.accepted()) == 1
    assert User.objects.count() == 1


def test_a_number_that_cannot_be_parsed_is_ignored_without_an_account(channel: FakeGraphApi) -> None:
    post(deliveries.text("12", "hi"))
    assert run_worker()["inbound"] == ["bad_phone_number"]
    assert not User.objects.exists()
    assert channel.accepted() == []


def test_linking_a_number_with_the_code_sent_over_whatsapp(channel: FakeGraphApi) -> None:
    web_patient = make_user(username="webpat")
    post(deliveries.text("447700900124", "hi"))
    post(deliveries.text("447700900124", "LINK"))
    run_worker()
    code = answers_to(channel, "+447700900124")[-1].split("code is ")[1].split(".")[0]
    page = Client()
    page.force_login(web_patient)
    assert page.get("/whatsapp/link/").status_code == 200
    response = page.post("/whatsapp/link/", {"code": code.lower()})
    assert b"is now linked" in response.content
    web_patient.refresh_from_db()
    assert web_patient.phone_number == "+447700900124"
    assert Contact.objects.get().user_id == web_patient.pk
    post(deliveries.text("447700900124", "after linking"))
    run_worker()
    assert [m.content for m in user_messages(web_patient.pk)] == ["after linking"]
    again = page.post("/whatsapp/link/", {"code": code})
    assert b"unknown, already used or expired" in again.content
    assert LinkCode.objects.get().used_by_id == web_patient.pk


def test_a_wrong_link_code_links_nothing(channel: FakeGraphApi) -> None:
    web_patient = make_user(username="guesser")
    page = Client()
    page.force_login(web_patient)
    response = page.post("/whatsapp/link/", {"code": "ABCD-2345"})
    assert b"unknown, already used or expired" in response.content
    web_patient.refresh_from_db()
    assert web_patient.phone_number is None


def test_stop_stops_replies_and_start_resumes_them(channel: FakeGraphApi) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "STOP"))
    run_worker()
    assert answers_to(channel, "+4915112345678") == [texts.STOPPED]
    assert Contact.objects.get().opted_out
    post(deliveries.text("4915112345678", "are you there?"))
    run_worker()
    assert len(channel.accepted()) == 1
    assert user_messages(patient.pk) == []
    post(deliveries.text("4915112345678", "Start"))
    post(deliveries.text("4915112345678", "hello again"))
    run_worker()
    assert answers_to(channel, "+4915112345678")[1] == texts.STARTED
    assert len(channel.accepted()) == 3
    assert [m.content for m in user_messages(patient.pk)] == ["hello again"]


def test_a_reply_queued_before_stop_is_not_sent_and_says_why(channel: FakeGraphApi) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "question"))
    services.handle_inbound(inbound_id=InboundMessage.objects.get().pk)
    Contact.objects.update(opted_out=True)
    run_worker()
    assert channel.accepted() == []
    assert OutboundReply.objects.get().reason == "opted_out"
    reply = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    assert reply.metadata["delivery"]["status"] == "not_sent"


def test_outside_the_24_hour_window_nothing_is_sent_and_the_reason_is_kept(
    channel: FakeGraphApi,
) -> None:
    patient = known_patient()
    day_and_more = int(time.time()) - 25 * 3600
    post(deliveries.text("4915112345678", "an old message", at=day_and_more))
    run_worker()
    assert channel.sent() == []
    assert OutboundReply.objects.get().reason == "outside_24h_window"
    reply = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    assert reply.metadata["delivery"]["error"]["reason"] == "outside_24h_window"


def test_messages_within_the_gap_share_a_session_a_later_one_starts_another(
    channel: FakeGraphApi,
) -> None:
    patient = known_patient()
    now = int(time.time())
    post(deliveries.text("4915112345678", "one", at=now - 3 * 3600))
    run_worker()
    post(deliveries.text("4915112345678", "two", at=now - 3 * 3600 + 600))
    run_worker()
    post(deliveries.text("4915112345678", "three", at=now))
    run_worker()
    sessions = list(ChatSession.objects.filter(user_id=patient.pk).order_by("created_at"))
    assert [s.message_count for s in sessions] == [4, 2]
    assert {s.channel for s in sessions} == {"whatsapp"}


def test_a_media_message_gets_the_text_only_answer_and_keeps_its_metadata(
    channel: FakeGraphApi,
) -> None:
    patient = known_patient()
    post(deliveries.image("4915112345678", caption="my rash"))
    run_worker()
    assert answers_to(channel, "+4915112345678") == [texts.TEXT_ONLY]
    [asked] = user_messages(patient.pk)
    assert asked.content == "[image] my rash"
    assert asked.attachments == [
        {
            "kind": "image",
            "id": "1003383421387256",
            "mime_type": "image/jpeg",
            "sha256": "IRR2fTXJ3HZa6uI6LcqU8VV1WdAhnPBkR0P8WqYLKYk=",
        }
    ]


@pytest.mark.parametrize("delivery", [deliveries.voice_note, deliveries.document, deliveries.location])
def test_audio_documents_and_locations_are_answered_text_only(channel: FakeGraphApi, delivery: Any) -> None:
    patient = known_patient()
    post(delivery("4915112345678"))
    run_worker()
    assert answers_to(channel, "+4915112345678") == [texts.TEXT_ONLY]
    [asked] = user_messages(patient.pk)
    assert asked.attachments[0]["kind"] in ("audio", "document", "location")
    assert "latitude" not in asked.attachments[0]


def test_the_graph_api_answering_429_then_200_sends_one_reply(channel: FakeGraphApi) -> None:
    known_patient()
    post(deliveries.text("4915112345678", "hello"))
    services.handle_inbound(inbound_id=InboundMessage.objects.get().pk)
    channel.answer_next(429)
    reply = OutboundReply.objects.get()
    assert tasks.send_reply.apply(args=[reply.pk]).get() == "sent"  # the task's retry, run in place
    assert len(channel.sent()) == 2
    assert len(channel.accepted()) == 1
    assert OutboundReply.objects.get().state == OutboundReply.State.SENT


def test_a_timeout_is_retried_but_a_4xx_is_not(channel: FakeGraphApi) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "hello"))
    services.handle_inbound(inbound_id=InboundMessage.objects.get().pk)
    reply = OutboundReply.objects.get()
    channel.answer_next("timeout")
    assert run_worker()["replies"] == ["retry:timeout"]
    channel.answer_next(400)
    assert run_worker()["replies"] == ["failed"]
    assert run_worker()["replies"] == []
    reply.refresh_from_db()
    assert (reply.state, reply.reason) == (OutboundReply.State.FAILED, "http_400")
    assert (
        ChatMessage.objects.get(user_id=patient.pk, role="assistant").metadata["delivery"]["status"]
        == "failed"
    )


def test_a_6000_character_reply_is_sent_as_two_messages(channel: FakeGraphApi, settings: Any) -> None:
    paragraphs = [f"Paragraph {n}: " + "word " * 196 for n in range(6)]
    with FakeLlmServer(reply_text="\n\n".join(paragraphs)) as llm:
        settings.CHAT_RESPONDER = "openai"
        settings.OPENAI_BASE_URL = llm.url
        settings.OPENAI_API_KEY = "k"
        settings.OPENAI_MAX_RETRIES = 0
        known_patient()
        post(deliveries.text("4915112345678", "tell me everything"))
        run_worker()
    sent = answers_to(channel, "+4915112345678")
    assert len("\n\n".join(paragraphs)) > 5900
    assert len(sent) == 2
    assert all(len(part) <= 4096 for part in sent)
    assert sent[1].startswith("Paragraph ")
    assert len(OutboundPart.objects.all()) == 2


def test_markdown_in_a_reply_is_sent_as_whatsapp_formatting(channel: FakeGraphApi, settings: Any) -> None:
    with FakeLlmServer(reply_text="## Advice\n\n**Drink water** and *rest*.") as llm:
        settings.CHAT_RESPONDER = "openai"
        settings.OPENAI_BASE_URL = llm.url
        settings.OPENAI_API_KEY = "k"
        settings.OPENAI_MAX_RETRIES = 0
        known_patient()
        post(deliveries.text("4915112345678", "what should I do"))
        run_worker()
    assert answers_to(channel, "+4915112345678") == ["*Advice*\n\n*Drink water* and _rest_."]


def test_the_conversation_is_an_ordinary_session_in_the_api_search_and_export(channel: FakeGraphApi) -> None:
    patient = known_patient()
    post(deliveries.text("4915112345678", "zebraflu symptoms please"))
    run_worker()
    api = Client()
    api.force_login(patient)
    listed = api.get("/api/chat/sessions").json()
    [session] = listed["results"] if "results" in listed else listed["sessions"]
    assert session["channel"] == "whatsapp"
    found = api.get("/api/chat/search", {"q": "zebraflu"})
    assert found.status_code == 200
    assert session["session_id"] in found.content.decode()
    exported = api.get(f"/api/chat/sessions/{session['session_id']}/export")
    assert exported.status_code == 200
    assert b"zebraflu" in b"".join(exported.streaming_content)  # type: ignore[attr-defined]


def _status(wamid: str, state: str, *, error_code: int | None = None) -> Any:
    from whatsapp import payloads

    return payloads.parse(deliveries.status(wamid, state, "4915112345678", error_code=error_code)).statuses[0]


def _status_item(wamid: str, state: str) -> dict[str, Any]:
    update = _status(wamid, state)
    return {"wamid": update.wamid, "status": update.status, "at": update.at.isoformat()}


def test_the_channel_logs_ids_never_text_or_phone_numbers(
    channel: FakeGraphApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    post(deliveries.text("447700900199", "my secret symptom zxqv"))
    post(deliveries.text("447700900199", "my secret symptom zxqv"))
    channel.answer_next(503)
    run_worker()
    run_worker()
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "whatsapp" in logged
    assert "zxqv" not in logged
    assert "7700900199" not in logged


def test_staff_see_why_a_reply_was_not_sent_in_the_admin_without_its_text(channel: FakeGraphApi) -> None:
    known_patient()
    post(deliveries.text("4915112345678", "STOP"))
    post(deliveries.text("4915112345678", "secret words qqzz"))
    run_worker()
    staff = User.objects.create_superuser("wa-admin", "wa@example.test", "x-unused-1a2b")
    admin_client = Client()
    admin_client.force_login(staff)
    for page in ("contact", "inboundmessage", "outboundreply"):
        response = admin_client.get(f"/admin/whatsapp/{page}/")
        assert response.status_code == 200
        assert b"qqzz" not in response.content
    assert b"opted_out" in admin_client.get("/admin/whatsapp/inboundmessage/").content


def test_a_reply_that_keeps_failing_transiently_is_given_up_after_its_attempts(channel: FakeGraphApi) -> None:
    known_patient()
    post(deliveries.text("4915112345678", "hello"))
    outcomes = run_worker()
    reply = OutboundReply.objects.get()
    assert outcomes["replies"] == ["sent"]
    OutboundReply.objects.filter(pk=reply.pk).update(
        state=OutboundReply.State.PENDING, attempts=services.MAX_SEND_ATTEMPTS, parts_sent=0
    )
    assert services.send_reply(reply_id=reply.pk) == "failed"
    assert OutboundReply.objects.get().reason == "too_many_attempts"
    assert len(channel.accepted()) == 1
