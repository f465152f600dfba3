"""The whole path with a real Celery worker process: webhook → queue → worker → Graph API."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.conf import settings

from chats.models import ChatMessage
from tests.factories import make_user
from tests.support.processes import Background, child_env, poll
from tests.whatsapp import deliveries
from tests.whatsapp.conftest import post
from tests.whatsapp.fake_graph_server import FakeGraphApi
from whatsapp.models import OutboundReply


@pytest.mark.slow
@pytest.mark.real_services
@pytest.mark.django_db(databases=["default", "chats"], transaction=True)
def test_a_worker_answers_a_delivery_posted_three_times_once(channel: FakeGraphApi, tmp_path: Path) -> None:
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        pytest.skip("needs the Redis broker (always present with CI=true)")
    patient = make_user(username="worker-pat", phone_number="+4915112345678")
    env = child_env(
        WHATSAPP_APP_SECRET=deliveries.APP_SECRET,
        WHATSAPP_ACCESS_TOKEN=deliveries.ACCESS_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=deliveries.PHONE_NUMBER_ID,
        WHATSAPP_GRAPH_API_URL=channel.url,
        MONGODB_OPERATION_TIMEOUT_MS="30000",
    )
    argv = [sys.executable, "-m", "celery", "-A", "medibot", "worker", "-Q", "default", "-P", "solo"]
    argv += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-l", "INFO"]
    worker = Background(argv, env, tmp_path / "worker.log")
    try:
        document = deliveries.text("4915112345678", "hello from a phone")
        assert [post(document).status_code for _ in range(3)] == [200, 200, 200]
        assert poll(lambda: len(channel.accepted()) >= 1, timeout=120), (tmp_path / "worker.log").read_text()[
            -3000:
        ]
        assert poll(
            lambda: OutboundReply.objects.filter(state=OutboundReply.State.SENT).count() == 1, timeout=60
        )
    finally:
        worker.kill()
    assert len(channel.accepted()) == 1
    assert ChatMessage.objects.filter(user_id=patient.pk, role="user").count() == 1
