"""WhatsApp conversations on the chat page: listed with the others, labelled, read-only."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from pytest_django.live_server_helper import LiveServer

from chats import services
from tests.factories import make_user
from tests.web.conftest import screenshot, watch_for_problems

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

PASSWORD = "correct-horse-battery-staple"


def test_a_whatsapp_conversation_is_labelled_and_read_only(live_server: LiveServer, page: Page) -> None:
    patient = make_user(username="wapat")
    on_whatsapp = services.start_session(user_id=patient.pk, channel="whatsapp", title="Headache (WhatsApp)")
    services.append_message(session=on_whatsapp, role="user", content="I have a headache")
    services.record_reply(session=on_whatsapp, reply=services.Reply(content="Rest and drink water."))
    on_the_web = services.start_session(user_id=patient.pk, title="Knee (web)")
    services.append_message(session=on_the_web, role="user", content="my knee hurts")
    problems = watch_for_problems(page)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("wapat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    whatsapp_item = page.locator("#session-list .session-item", has_text="Headache (WhatsApp)")
    expect(whatsapp_item.locator(".session-badge--whatsapp")).to_have_text("WhatsApp")
    whatsapp_item.locator(".session-link").click()

    expect(page.locator(".message--assistant")).to_contain_text("Rest and drink water.")
    expect(page.locator("#channel-badge")).to_be_visible()
    expect(page.locator("#whatsapp-note")).to_be_visible()
    expect(page.locator("#composer")).to_be_hidden()
    screenshot(page, "whatsapp-conversation-read-only")

    page.locator("#session-list .session-item", has_text="Knee (web)").locator(".session-link").click()
    expect(page.locator("#composer")).to_be_visible()
    expect(page.locator("#whatsapp-note")).to_be_hidden()
    expect(page.locator("#channel-badge")).to_be_hidden()
    assert problems == []
