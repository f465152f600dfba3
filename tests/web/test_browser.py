"""The chat page in a real browser (Debian's chromium via Playwright) against the live server,
with MariaDB for accounts and SecantusDB for chats. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Locator, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from chats import services
from chats.models import ChatSession, MessageVote
from tests.chats.factories import session_with_messages
from tests.factories import make_user
from tests.support.processes import manage
from tests.web.conftest import PHONE, TIMEOUT_MS, OutageSite, screenshot, watch_for_problems

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

PASSWORD = "correct-horse-battery-staple"

# Counts the renderings of replies (each ``token`` event renders the reply again, ``done`` once more).
# Observer callbacks run after a whole network read is handled, so the streaming class may be gone.
COUNT_STREAMED_CHUNKS = """() => {
  window.streamedChunks = 0;
  new MutationObserver((records) => {
    for (const record of records) {
      const text = record.target.nodeType === Node.ELEMENT_NODE && record.target.closest(".message-text");
      if (record.addedNodes.length && text && text.closest(".message--assistant")) window.streamedChunks += 1;
    }
  }).observe(document.getElementById("message-list"), { childList: true, subtree: true });
}"""


@pytest.fixture
def patient() -> User:
    return make_user(username="pat")


def sign_in(page: Page, server: LiveServer | OutageSite, username: str = "pat") -> None:
    page.goto(f"{server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")  # chat.js bound its handlers


def send(page: Page, text: str) -> None:
    """Type and send with Enter, once chat.js has bound its handlers (before that, Enter in the
    textarea only adds a line: CI once lost a message to that race)."""
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Message", exact=True).fill(text)
    page.keyboard.press("Enter")


def wait_for_reply(page: Page) -> None:
    """The ``done`` event has been handled: the reply has its rating buttons."""
    expect(page.locator(".message--assistant").last.locator(".votes")).to_be_visible(timeout=30_000)


def session_links(page: Page) -> Locator:
    return page.locator("#session-list .session-link")


def session_titles(page: Page) -> Locator:
    return page.locator("#session-list .session-title")


def test_patient_registers_chats_and_manages_the_conversation(live_server: LiveServer, page: Page) -> None:
    page.goto(f"{live_server.url}/register/")
    page.get_by_label("Username").fill("newpatient")
    page.get_by_label("Email").fill("newpatient@example.test")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    screenshot(page, "01-register")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_text("Signed in as newpatient")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    screenshot(page, "02-login")
    sign_in(page, live_server, "newpatient")
    expect(page.get_by_text("No conversations yet.")).to_be_visible()

    page.evaluate(COUNT_STREAMED_CHUNKS)
    send(page, "I have had a headache and a mild fever since yesterday")
    wait_for_reply(page)
    assert page.evaluate("window.streamedChunks") >= 3
    expect(page.locator(".message--assistant .message-text").last).not_to_be_empty()
    expect(page.locator("#token-usage")).to_have_attribute("data-loaded", "true")
    expect(session_links(page)).to_have_count(1)
    screenshot(page, "03-streamed-reply")

    page.reload()
    link = page.locator("#session-list .session-link").first
    expect(link).to_contain_text("I have had a headache")
    session_id = page.locator("#session-list .session-item").first.get_attribute("data-session-id")
    link.click()
    expect(page.locator("#chat-title")).to_contain_text("I have had a headache")
    expect(page.locator("#message-list .message")).to_have_count(2)

    helpful = page.locator(".message--assistant").last.get_by_role("button", name="Helpful", exact=True)
    helpful.click()
    expect(helpful).to_have_attribute("aria-pressed", "true")
    user = User.objects.get(username="newpatient")
    assert list(MessageVote.objects.filter(user_id=user.pk).values_list("vote_type", flat=True)) == ["up"]
    not_helpful = page.locator(".message--assistant").last.get_by_role("button", name="Not helpful")
    not_helpful.click()
    expect(not_helpful).to_have_attribute("aria-pressed", "true")
    expect(helpful).to_have_attribute("aria-pressed", "false")
    assert list(MessageVote.objects.filter(user_id=user.pk).values_list("vote_type", flat=True)) == ["down"]
    not_helpful.click()
    expect(not_helpful).to_have_attribute("aria-pressed", "false")
    assert not MessageVote.objects.filter(user_id=user.pk).exists()

    page.get_by_role("button", name="Rename").click()
    page.get_by_label("Title").fill("Headache diary")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#chat-title")).to_have_text("Headache diary")
    expect(link).to_contain_text("Headache diary")
    assert ChatSession.objects.get(session_id=session_id).title == "Headache diary"

    page.get_by_role("button", name="Pin", exact=True).click()
    expect(page.get_by_role("button", name="Unpin")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#session-list .session-badge")).to_have_text("Pinned")

    page.locator("#export-menu summary").click()
    screenshot(page, "04-conversation-tools")
    for label, suffix in [("JSON", ".json"), ("Markdown", ".md"), ("CSV", ".csv"), ("Plain text", ".txt")]:
        with page.expect_download() as download_info:
            page.get_by_role("link", name=label).click()
        download = download_info.value
        assert download.suggested_filename.endswith(suffix)
        content = Path(download.path()).read_text(encoding="utf-8")
        assert "I have had a headache and a mild fever since yesterday" in content
        if suffix == ".json":
            assert json.loads(content)
    page.keyboard.press("Escape")

    page.locator("#delete-button").click()
    confirm = page.get_by_role("alertdialog")
    expect(confirm).to_contain_text("Headache diary")
    screenshot(page, "05-delete-confirm")
    confirm.get_by_role("button", name="Delete").click()
    expect(confirm).to_be_hidden()
    expect(page.locator("#chat-title")).to_have_text("New conversation")
    expect(session_links(page)).to_have_count(0)
    assert page.request.get(f"{live_server.url}/api/chat/sessions/{session_id}").status == 404
    page.reload()
    expect(page.get_by_text("No conversations yet.")).to_be_visible()


def test_markup_in_a_message_is_shown_as_text(live_server: LiveServer, page: Page, patient: User) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    payload = '<script>alert("pwned")</script><img src=x onerror="alert(1)"> & <b>bold?</b>'
    sign_in(page, live_server)

    send(page, payload)
    wait_for_reply(page)
    expect(page.locator(".message--user .message-text").last).to_have_text(payload)

    page.reload()
    page.locator("#session-list .session-link").first.click()
    expect(page.locator(".message--user .message-text").first).to_have_text(payload)
    expect(page.locator("#chat-title")).to_contain_text('<script>alert("pwned")')
    assert page.locator("#message-list script, #message-list img, #message-list b").count() == 0
    assert page.locator("#session-list script, #session-list img").count() == 0
    assert dialogs == []
    screenshot(page, "06-markup-as-text")


def test_search_pages_with_more_results_and_tolerates_a_typo(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session = services.start_session(user_id=patient.pk, title="Insulin log")
    for number in range(1, 24):
        services.append_message(session=session, role="user", content=f"insulin dose number {number}")
    sign_in(page, live_server)

    page.get_by_label("Search conversations").fill("insuln")
    hits = page.locator("#search-message-list .result-link")
    expect(hits.first).to_contain_text("number 23")
    more = page.locator("#search-message-list .result-link", has_text="More results")
    expect(more).to_have_count(1)
    more.click()
    expect(hits.filter(has_text="insulin dose")).to_have_count(23)
    expect(more).to_have_count(0)


def test_search_shows_matches_highlighted_and_opens_the_message(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session = services.start_session(user_id=patient.pk, title="Blood pressure log")
    services.append_message(
        session=session, role="user", content="My <b>blood pressure</b> was 150/95 this morning"
    )
    services.append_message(session=session, role="assistant", content="Thank you, noted.")
    sign_in(page, live_server)

    page.get_by_label("Search conversations").fill("pressure")
    hit = page.locator("#search-message-list .result-link").first
    expect(hit.locator("mark").first).to_have_text("pressure")
    expect(hit).to_contain_text("<b>blood")
    assert hit.locator("b").count() == 0
    expect(page.locator("#search-session-list")).to_contain_text("Blood pressure log")
    screenshot(page, "07-search")

    hit.click()
    expect(page.locator(".message--found")).to_contain_text("150/95")
    scrolled = "['layout', 'main'].map((id) => document.getElementById(id).scrollTop)"
    assert page.evaluate(f"[document.scrollingElement.scrollTop, ...{scrolled}]") == [0, 0, 0]
    page.get_by_label("Search conversations").fill("")
    expect(session_links(page)).to_have_count(1)


def test_sidebar_loads_more_on_scroll_and_the_conversation_pages_back(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    for number in range(23):
        services.start_session(user_id=patient.pk, title=f"Visit {number:02d}")
    session_with_messages(user_id=patient.pk, messages=40, title="Long conversation")
    sign_in(page, live_server)

    links = page.locator("#session-list .session-link")
    expect(links).to_have_count(20)
    page.locator("#sidebar-scroll").evaluate("(element) => element.scrollTo(0, element.scrollHeight)")
    expect(links).to_have_count(24)
    expect(page.locator("#sessions-more")).to_be_hidden()

    page.get_by_role("button", name="Long conversation").click()
    messages = page.locator("#message-list .message")
    expect(messages).to_have_count(30)
    expect(messages.last).to_contain_text("message 40 of the session")
    page.get_by_role("button", name="Load older messages").click()
    expect(messages).to_have_count(40)
    expect(messages.first).to_contain_text("message 1 of the session")
    expect(page.get_by_role("button", name="Load older messages")).to_be_hidden()


def test_archived_conversation_leaves_the_list_and_comes_back(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session_with_messages(user_id=patient.pk, messages=2, title="Old visit")
    services.start_session(user_id=patient.pk, title="Current visit")
    sign_in(page, live_server)
    page.get_by_role("button", name="Old visit").click()

    page.get_by_role("button", name="Archive", exact=True).click()
    expect(page.get_by_role("button", name="Unarchive")).to_be_visible()
    expect(session_links(page)).to_have_count(1)
    expect(session_links(page)).to_contain_text("Current visit")

    page.get_by_label("Show archived conversations").check()
    expect(page.get_by_role("heading", name="Archived conversations")).to_be_visible()
    expect(session_links(page)).to_have_count(1)
    expect(session_links(page)).to_contain_text("Archived")
    page.get_by_role("button", name="Unarchive").click()
    expect(page.get_by_text("No archived conversations.")).to_be_visible()
    page.get_by_label("Show archived conversations").uncheck()
    expect(session_links(page)).to_have_count(2)


def test_pinned_conversations_lead_the_sidebar_and_a_new_turn_moves_one_up(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    for title in ("Oldest visit", "Middle visit", "Newest visit"):
        services.start_session(user_id=patient.pk, title=title)
    sign_in(page, live_server)
    expect(session_titles(page)).to_have_text(["Newest visit", "Middle visit", "Oldest visit"])

    page.get_by_role("button", name="Middle visit").click()
    page.get_by_role("button", name="Pin", exact=True).click()
    expect(session_titles(page)).to_have_text(["Middle visit", "Newest visit", "Oldest visit"])

    page.get_by_role("button", name="Oldest visit").click()
    send(page, "Any news about my test results?")
    wait_for_reply(page)
    expect(session_titles(page)).to_have_text(["Middle visit", "Oldest visit", "Newest visit"])
    page.reload()
    expect(session_titles(page)).to_have_text(["Middle visit", "Oldest visit", "Newest visit"])


def test_deleted_conversation_comes_back_with_undo(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session = session_with_messages(user_id=patient.pk, messages=2, title="Allergy notes")
    sign_in(page, live_server)
    page.get_by_role("button", name="Allergy notes").click()
    page.locator("#delete-button").click()
    page.get_by_role("alertdialog").get_by_role("button", name="Delete").click()
    banner = page.locator("#banner")
    expect(banner).to_contain_text("“Allergy notes” was deleted.")
    expect(session_links(page)).to_have_count(0)

    banner.get_by_role("button", name="Undo").click()
    expect(banner).to_be_hidden()
    expect(page.locator("#chat-title")).to_have_text("Allergy notes")
    expect(page.locator("#message-list .message")).to_have_count(2)
    expect(session_links(page)).to_have_count(1)
    assert ChatSession.objects.get(session_id=session.session_id).deleted_at is None


def test_keyboard_user_skips_to_the_message_box(live_server: LiveServer, page: Page, patient: User) -> None:
    sign_in(page, live_server)
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the message box")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Message", exact=True)).to_be_focused()


def test_message_sent_while_chat_storage_is_down_is_queued_with_a_banner_and_arrives_later(
    outage_site: OutageSite, page: Page, patient: User
) -> None:
    sign_in(page, outage_site)
    send(page, "I twisted my ankle this morning")
    wait_for_reply(page)
    expect(page.locator("#token-usage")).to_have_attribute("data-loaded", "true")  # all requests finished

    outage_site.mongo.signal(signal.SIGSTOP)
    try:
        send(page, "Is my message saved?")
        banner = page.locator("#banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Chat storage is temporarily unavailable")
        expect(page.locator(".message--user").last.locator(".message-badge")).to_have_text("Queued")
        expect(page.locator(".message--assistant").last.locator(".message-badge")).to_have_text("Queued")
        expect(page.locator("#message-list .message")).to_have_count(4)
        screenshot(page, "08-queued-banner")
    finally:
        outage_site.mongo.signal(signal.SIGCONT)

    synced = manage("sync_outbox", env={**outage_site.env, "MONGODB_OPERATION_TIMEOUT_MS": "30000"})
    assert synced.returncode == 0, synced.stdout + synced.stderr
    page.reload()
    session_links(page).first.click()
    messages = page.locator("#message-list .message")
    expect(messages).to_have_count(4)
    expect(messages.nth(2)).to_contain_text("Is my message saved?")
    expect(page.locator("#message-list .message-badge")).to_have_count(0)


def test_while_chat_storage_is_down_the_recent_conversation_is_shown_with_a_banner(
    outage_site: OutageSite, page: Page, patient: User
) -> None:
    sign_in(page, outage_site)
    send(page, "I twisted my ankle this morning")
    wait_for_reply(page)
    send(page, "It is swollen now")
    wait_for_reply(page)
    expect(page.locator("#token-usage")).to_have_attribute("data-loaded", "true")  # all requests finished

    outage_site.mongo.signal(signal.SIGSTOP)
    try:
        page.reload()
        banner = page.locator("#banner")
        expect(banner).to_contain_text(
            "Showing your recent messages; the full history is temporarily unavailable"
        )
        session_links(page).first.click()
        messages = page.locator("#message-list .message")
        expect(messages).to_have_count(4)
        expect(messages.nth(2)).to_contain_text("It is swollen now")
        expect(banner).to_contain_text("Showing your recent messages")
        screenshot(page, "08b-degraded-banner")
    finally:
        outage_site.mongo.signal(signal.SIGCONT)


def test_phone_layout_with_keyboard_sending_and_the_sidebar_as_a_panel(
    live_server: LiveServer, browser: Browser, patient: User
) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    problems = watch_for_problems(page)
    try:
        sign_in(page, live_server)
        sidebar = page.locator("#sidebar")
        expect(sidebar).to_be_hidden()

        box = page.get_by_label("Message", exact=True)
        box.fill("first line")
        box.press("Shift+Enter")
        box.press_sequentially("second line")
        box.press("Enter")
        expect(page.locator(".message--user .message-text").last).to_have_text("first line\nsecond line")
        wait_for_reply(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "09-phone-chat")

        toggle = page.get_by_role("button", name="Conversations")
        toggle.click()
        expect(sidebar).to_be_visible()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(page.get_by_role("button", name="New conversation")).to_be_focused()
        screenshot(page, "10-phone-sidebar")
        page.keyboard.press("Escape")
        expect(sidebar).to_be_hidden()
        expect(toggle).to_be_focused()

        toggle.click()
        expect(sidebar).to_be_visible()
        page.touchscreen.tap(PHONE["width"] - 20, PHONE["height"] // 2)  # on the dimmed conversation
        expect(sidebar).to_be_hidden()

        toggle.click()
        page.locator("#session-list .session-link").first.click()
        expect(sidebar).to_be_hidden()
        expect(page.locator("#message-list .message")).to_have_count(2)
        assert problems == []
    finally:
        context.close()
