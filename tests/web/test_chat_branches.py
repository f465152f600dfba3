"""Edit, regenerate and branches on the chat page (issue 17): a regenerated reply is a new version,
"< 1/2 >" / "< 2/2 >" switch between them, a reload keeps the one shown; edit and resend.

Headless chromium against the live server; replies come from a local OpenAI-compatible server
(tests/chats/fake_llm_server.py). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from playwright.sync_api import Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from tests.chats.fake_llm_server import FakeLlmServer
from tests.factories import make_user
from tests.web.conftest import screenshot
from tests.web.test_browser import send, sign_in, wait_for_reply

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)


@pytest.fixture
def patient() -> User:
    return make_user(username="pat")


@pytest.fixture
def fake_llm(settings: Any) -> Iterator[FakeLlmServer]:
    with FakeLlmServer(reply_text="Drink water and rest.") as server:
        settings.CHAT_RESPONDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_MODEL = "fake-model-1"
        settings.OPENAI_MAX_RETRIES = 0
        yield server


def replies(page: Page) -> Locator:
    return page.locator(".message--assistant .message-text")


def last_reply(page: Page) -> Locator:
    return page.locator(".message--assistant").last


def test_regenerate_makes_a_new_version_and_the_page_switches_between_them(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "I have a headache.")
    wait_for_reply(page)
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]+$"))
    fake_llm.reply_text = "Try a cold compress."

    last_reply(page).get_by_role("button", name="Regenerate").click()

    expect(replies(page)).to_have_count(1)
    expect(replies(page).last).to_contain_text("Try a cold compress.")
    navigation = last_reply(page).get_by_role("group", name="Versions of this message")
    expect(navigation).to_contain_text("2/2")
    screenshot(page, "40-regenerated-reply-2-of-2")

    navigation.get_by_role("button", name="Previous version").click()
    expect(replies(page).last).to_contain_text("Drink water and rest.")
    expect(last_reply(page).get_by_role("group", name="Versions of this message")).to_contain_text("1/2")
    screenshot(page, "41-first-version-1-of-2")

    page.reload()
    expect(replies(page).last).to_contain_text("Drink water and rest.")
    expect(last_reply(page).get_by_role("group", name="Versions of this message")).to_contain_text("1/2")

    last_reply(page).get_by_role("button", name="Next version").click()
    expect(replies(page).last).to_contain_text("Try a cold compress.")
    page.reload()
    expect(replies(page).last).to_contain_text("Try a cold compress.")
    expect(last_reply(page).get_by_role("group", name="Versions of this message")).to_contain_text("2/2")


def test_edit_and_resend_replaces_the_message_and_its_answer(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "I have a headahce.")
    wait_for_reply(page)
    fake_llm.reply_text = "A headache often passes with rest."

    mine = page.locator(".message--user").last
    mine.get_by_role("button", name="Edit").click()
    editor = mine.get_by_label("Edit your message")
    editor.fill("I have a headache since noon.")
    screenshot(page, "42-editing-a-message")
    mine.get_by_role("button", name="Send").click()

    expect(page.locator(".message--user .message-text")).to_have_count(1)
    expect(page.locator(".message--user .message-text").last).to_have_text("I have a headache since noon.")
    expect(replies(page).last).to_contain_text("A headache often passes with rest.")
    expect(
        page.locator(".message--user").last.get_by_role("group", name="Versions of this message")
    ).to_contain_text("2/2")
    screenshot(page, "43-edited-and-resent-2-of-2")
    page.reload()
    expect(page.locator(".message--user .message-text").last).to_have_text("I have a headache since noon.")


def test_an_imported_conversation_shows_its_active_branch_and_the_other_version_is_one_click_away(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    fixture = Path(__file__).parents[1] / "chats" / "importer_fixtures" / "chatgpt_conversations.json"
    call_command("migrate_chats", "--source", "chatgpt", "--path", str(fixture), "--user", patient.username)
    sign_in(page, live_server)

    page.goto(f"{live_server.url}/c/c1a2b3c4-1111-4222-8333-944455556666")

    expect(replies(page).last).to_contain_text("caffeine's half-life")
    navigation = last_reply(page).get_by_role("group", name="Versions of this message")
    expect(navigation).to_contain_text("2/2")
    screenshot(page, "42-imported-chatgpt-branch-2-of-2")
    navigation.get_by_role("button", name="Previous version").click()
    expect(replies(page).last).to_contain_text("A first answer that was regenerated.")
    page.reload()
    expect(replies(page).last).to_contain_text("A first answer that was regenerated.")
