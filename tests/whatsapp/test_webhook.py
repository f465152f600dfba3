"""The webhook: Meta's handshake, signatures checked before parsing, bad input never a 500."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.whatsapp import deliveries
from tests.whatsapp.conftest import WEBHOOK, post
from tests.whatsapp.fake_graph_server import FakeGraphApi
from whatsapp import services
from whatsapp.models import InboundMessage

pytestmark = pytest.mark.django_db(databases=["default"])

PATIENT = "4915112345678"


def handshake(client: Client, **params: str) -> object:
    return client.get(WEBHOOK, {"hub.mode": "subscribe", "hub.challenge": "1158201444", **params})


def test_handshake_with_the_verify_token_echoes_the_challenge_as_plain_text(channel: FakeGraphApi) -> None:
    response = handshake(Client(), **{"hub.verify_token": deliveries.VERIFY_TOKEN})
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.content == b"1158201444"  # type: ignore[attr-defined]
    assert response["Content-Type"].startswith("text/plain")  # type: ignore[index]


@pytest.mark.parametrize("params", [{"hub.verify_token": "wrong"}, {}, {"hub.mode": "unsubscribe"}])
def test_handshake_without_the_right_token_or_mode_is_403(
    channel: FakeGraphApi, params: dict[str, str]
) -> None:
    response = Client().get(WEBHOOK, {"hub.mode": "subscribe", "hub.challenge": "1", **params})
    if params.get("hub.mode") == "unsubscribe":
        response = Client().get(
            WEBHOOK,
            {"hub.mode": "unsubscribe", "hub.verify_token": deliveries.VERIFY_TOKEN, "hub.challenge": "1"},
        )
    assert response.status_code == 403


def test_without_an_app_secret_the_channel_is_off_and_the_webhook_is_404(settings: Any) -> None:
    settings.WHATSAPP_APP_SECRET = ""
    assert Client().get(WEBHOOK, {"hub.mode": "subscribe"}).status_code == 404
    assert post(deliveries.text(PATIENT, "hello")).status_code == 404
    assert not InboundMessage.objects.exists()


def test_a_signed_text_message_is_recorded_and_answered_200(channel: FakeGraphApi) -> None:
    response = post(deliveries.text(PATIENT, "I have a headache"))
    assert response.status_code == 200
    assert response.json()["received"] == 1
    inbound = InboundMessage.objects.get()
    assert (inbound.kind, inbound.sender, inbound.state) == ("text", PATIENT, InboundMessage.State.RECEIVED)


def test_a_wrong_signature_is_403_and_stores_nothing(channel: FakeGraphApi) -> None:
    response = post(deliveries.text(PATIENT, "hello"), secret="someone-elses-secret")
    assert response.status_code == 403
    assert not InboundMessage.objects.exists()


def test_a_missing_signature_is_403_and_stores_nothing(channel: FakeGraphApi) -> None:
    body = json.dumps(deliveries.text(PATIENT, "hello")).encode()
    response = Client().post(WEBHOOK, data=body, content_type="application/json")
    assert response.status_code == 403
    assert not InboundMessage.objects.exists()


def test_the_signature_is_checked_before_the_body_is_parsed(channel: FakeGraphApi) -> None:
    response = post(b"{not json", secret="wrong")
    assert response.status_code == 403


def test_a_body_signed_and_then_changed_is_403(channel: FakeGraphApi) -> None:
    body, headers = deliveries.signed(deliveries.text(PATIENT, "hello"))
    tampered = body.replace(b"hello", b"HELLO")
    response = Client().post(WEBHOOK, data=tampered, content_type="application/json", headers=headers)
    assert response.status_code == 403


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"\xff\xfe", b"[]", b'{"object": "page"}', b"1" * 10 + b"[" * 100_000],
)
def test_malformed_json_or_a_foreign_shape_is_400_and_stores_nothing(
    channel: FakeGraphApi, body: bytes
) -> None:
    response = post(body)
    assert response.status_code == 400
    assert not InboundMessage.objects.exists()


def test_an_oversized_body_is_413(channel: FakeGraphApi, settings: Any) -> None:
    settings.WHATSAPP_MAX_BODY_BYTES = 1000
    response = post(deliveries.text(PATIENT, "x" * 2000))
    assert response.status_code == 413
    assert not InboundMessage.objects.exists()


def test_unknown_items_and_fields_are_ignored_with_200(channel: FakeGraphApi) -> None:
    document = deliveries.envelope(
        {"messages": [{"id": 5}, "junk", {"from": PATIENT}], "statuses": [{"x": 1}]}
    )
    document["entry"].append({"id": "1", "changes": [{"field": "account_update", "value": {"event": "x"}}]})
    document["entry"].append("not an entry")
    response = post(document)
    assert response.status_code == 200
    assert response.json()["ignored"] == 6
    assert not InboundMessage.objects.exists()


def test_a_status_only_delivery_is_200_and_stores_no_message(channel: FakeGraphApi) -> None:
    response = post(deliveries.status("wamid.unknown", "delivered", PATIENT))
    assert response.status_code == 200
    assert response.json() == {"received": 0, "duplicates": 0, "statuses": 1, "ignored": 0}
    assert not InboundMessage.objects.exists()


def test_several_messages_in_one_delivery_are_each_recorded(channel: FakeGraphApi) -> None:
    document = deliveries.messages(
        deliveries.message(PATIENT, "text", body="first"), deliveries.message(PATIENT, "text", body="second")
    )
    assert post(document).json()["received"] == 2
    assert InboundMessage.objects.count() == 2


def test_a_message_for_another_business_number_is_ignored(channel: FakeGraphApi) -> None:
    document = deliveries.text(PATIENT, "hello")
    document["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert post(document).json()["ignored"] == 1
    assert not InboundMessage.objects.exists()


def test_the_same_delivery_three_times_is_recorded_once(channel: FakeGraphApi) -> None:
    document = deliveries.text(PATIENT, "hello")
    answers = [post(document).json() for _ in range(3)]
    assert [a["received"] for a in answers] == [1, 0, 0]
    assert [a["duplicates"] for a in answers] == [0, 1, 1]
    assert InboundMessage.objects.count() == 1


def test_messages_whose_task_was_lost_are_picked_up_by_the_resume_job(channel: FakeGraphApi) -> None:
    post(deliveries.text(PATIENT, "hello"))
    fresh = services.stalled_work()
    InboundMessage.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    assert fresh.inbound_ids == []
    assert services.stalled_work().inbound_ids == [InboundMessage.objects.get().pk]
