"""Stopping a streamed reply from the chat page (issue 17): Send becomes Stop while a reply streams;
the text so far stays on screen (and in the conversation) marked "Stopped"."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from chats import selectors
from chats.models import ChatSession
from tests.chats.fake_llm_server import FakeLlmServer
from tests.factories import make_user
from tests.web.conftest import screenshot
from tests.web.test_browser import send, sign_in, wait_for_reply

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

LONG_REPLY = " ".join(f"word{number}" for number in range(400))


@pytest.fixture
def patient() -> User:
    return make_user(username="pat")


@pytest.fixture
def slow_llm(settings: Any) -> Iterator[FakeLlmServer]:
    """A local OpenAI-compatible server streaming one word every 50 ms (20 s for the reply)."""
    with FakeLlmServer(reply_text=LONG_REPLY, chunk_delay_seconds=0.05) as server:
        settings.CHAT_RESPONDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_MODEL = "fake-model-1"
        settings.OPENAI_MAX_RETRIES = 0
        yield server


def test_stop_keeps_the_partial_reply_marked_stopped_and_the_next_message_works(
    live_server: LiveServer, page: Page, patient: User, slow_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "Tell me everything about fevers")
    button = page.locator("#send-button")
    reply = page.locator(".message--assistant .message-text").last
    expect(button).to_have_text("Stop")
    expect(reply).to_contain_text("word3")
    screenshot(page, "59-reply-streaming-with-stop")

    button.click()

    expect(page.locator(".message--assistant .message-badge--stopped")).to_have_text("Stopped")
    expect(button).to_have_text("Send")
    shown = reply.inner_text()
    assert "word399" not in shown
    screenshot(page, "60-reply-stopped")
    session = ChatSession.objects.get(user_id=patient.pk)
    answer = list(selectors.iter_session_messages(session=session))[-1]
    assert answer.status == "stopped"
    assert answer.content.strip() == shown.strip()
    assert slow_llm.wait_for_broken_stream(timeout=10)

    page.reload()
    expect(page.locator(".message--assistant .message-badge--stopped")).to_have_count(1)

    slow_llm.reply_text = "Short answer."
    slow_llm.chunk_delay_seconds = 0
    send(page, "In short?")
    wait_for_reply(page)
    expect(page.locator(".message--assistant .message-text").last).to_have_text("Short answer.")
    expect(page.locator(".message--assistant .message-badge--stopped")).to_have_count(1)
