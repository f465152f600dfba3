"""MongoDB frozen while a WhatsApp message arrives: the patient hears "we received your message"
at once and gets the answer exactly once after MongoDB is back (the outbox delivers the turn)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connections

from chats.models import ChatMessage
from chats.outbox import services as outbox
from tests.factories import make_user
from tests.security.faults import StoreProxy
from tests.whatsapp import deliveries
from tests.whatsapp.conftest import post, run_worker
from tests.whatsapp.fake_graph_server import FakeGraphApi
from whatsapp import services, texts
from whatsapp.exceptions import StorageNotReady
from whatsapp.models import OutboundReply

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)


@pytest.fixture
def chats_through_proxy() -> Iterator[StoreProxy]:
    """The ``chats`` alias reconnected through a loopback proxy that a test can freeze (MongoDB
    hangs), with a 1 s deadline so the outage is noticed quickly; restored afterwards."""
    connection = connections["chats"]
    saved_host = connection.settings_dict["HOST"]
    saved_options = dict(connection.settings_dict["OPTIONS"])
    target = urlsplit(saved_host)
    proxy = StoreProxy(target.port or 27017)
    proxy.start()
    _drop_client(connection)
    connection.settings_dict["HOST"] = saved_host.replace(f":{target.port}", f":{proxy.port}", 1)
    connection.settings_dict["OPTIONS"].update(
        timeoutMS=1000, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
    )
    try:
        yield proxy
    finally:
        proxy.frozen.clear()
        _drop_client(connection)
        connection.settings_dict["HOST"] = saved_host
        connection.settings_dict["OPTIONS"] = saved_options
        proxy.cut()


def _drop_client(connection: Any) -> None:
    """The backend keeps one MongoClient per alias for the process: close it so the next query
    connects with the current settings."""
    connection.ensure_connection()
    connection.close_pool()


def test_mongodb_frozen_the_patient_is_told_at_once_and_answered_once_after_recovery(
    channel: FakeGraphApi, chats_through_proxy: StoreProxy
) -> None:
    patient = make_user(username="frozen-pat", phone_number="+4915112345678")
    post(deliveries.text("4915112345678", "I feel dizzy"))
    chats_through_proxy.freeze()
    run_worker()
    assert [sent.text for sent in channel.accepted()] == [texts.RECEIVED]
    answer = OutboundReply.objects.get(kind=OutboundReply.Kind.ANSWER)
    assert answer.state == OutboundReply.State.AWAITING_STORAGE
    with pytest.raises(StorageNotReady):
        services.send_reply(reply_id=answer.pk)
    assert outbox.any_pending()

    chats_through_proxy.frozen.clear()
    assert outbox.drain().pending == 0
    assert services.send_reply(reply_id=answer.pk) == "sent"
    assert services.send_reply(reply_id=answer.pk) == "not_claimed"
    run_worker()
    accepted = [sent.text for sent in channel.accepted()]
    assert len(accepted) == 2
    assert accepted[0] == texts.RECEIVED
    stored = ChatMessage.objects.get(user_id=patient.pk, role="assistant")
    assert stored.message_id == answer.message_id
    assert stored.metadata["delivery"]["status"] == "accepted"
    asked = ChatMessage.objects.filter(user_id=patient.pk, role="user")
    assert [m.content for m in asked] == ["I feel dizzy"]
