"""Fixtures of the WhatsApp channel tests: the channel switched on against a fake Graph API process,
signed deliveries posted to the real webhook, and the worker's steps run in the test's process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from tests.whatsapp import deliveries
from tests.whatsapp.fake_graph_server import FakeGraphApi
from whatsapp import graph, services
from whatsapp.models import InboundMessage, OutboundReply

WEBHOOK = "/webhooks/whatsapp"


@pytest.fixture(scope="session")
def fake_graph() -> Iterator[FakeGraphApi]:
    with FakeGraphApi() as fake:
        yield fake


@pytest.fixture
def graph_api(fake_graph: FakeGraphApi) -> FakeGraphApi:
    fake_graph.reset()
    return fake_graph


@pytest.fixture
def channel(settings: Any, graph_api: FakeGraphApi) -> FakeGraphApi:
    """The channel on, sending to the fake Graph API; the offline responder answers."""
    settings.WHATSAPP_APP_SECRET = deliveries.APP_SECRET
    settings.WHATSAPP_VERIFY_TOKEN = deliveries.VERIFY_TOKEN
    settings.WHATSAPP_ACCESS_TOKEN = deliveries.ACCESS_TOKEN
    settings.WHATSAPP_PHONE_NUMBER_ID = deliveries.PHONE_NUMBER_ID
    settings.WHATSAPP_GRAPH_API_URL = graph_api.url
    settings.WHATSAPP_SEND_TIMEOUT_SECONDS = 1.0
    settings.CHAT_RESPONDER = "offline"
    return graph_api


def post(
    document: dict[str, Any] | bytes, *, secret: str = deliveries.APP_SECRET, client: Client | None = None
) -> Any:
    body, headers = deliveries.signed(document, secret=secret)
    return (client or Client()).post(WEBHOOK, data=body, content_type="application/json", headers=headers)


def run_worker() -> dict[str, list[str]]:
    """What the Celery worker does after deliveries: each received message, then each reply to
    send (a transient Graph API error is left for the retry, as the task would)."""
    outcomes: dict[str, list[str]] = {"inbound": [], "replies": []}
    for inbound_id in InboundMessage.objects.filter(state=InboundMessage.State.RECEIVED).values_list(
        "pk", flat=True
    ):
        outcomes["inbound"].append(services.handle_inbound(inbound_id=inbound_id))
    for reply_id in OutboundReply.objects.filter(state=OutboundReply.State.PENDING).values_list(
        "pk", flat=True
    ):
        try:
            outcomes["replies"].append(services.send_reply(reply_id=reply_id))
        except graph.TransientSendError as error:
            outcomes["replies"].append(f"retry:{error.reason}")
    return outcomes
