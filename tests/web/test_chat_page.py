"""The chat page as people expect it (issue 17): rendered, safe answers, copy, conversation URLs,
typed text never lost, the history-unavailable state, the phone layout and dark mode.

Headless chromium against the live server; a provider reply comes from a real local
OpenAI-compatible server (tests/chats/fake_llm_server.py). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Locator, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from chats import services
from tests.chats.factories import session_with_messages
from tests.chats.fake_llm_server import FakeLlmServer
from tests.factories import make_user
from tests.web.conftest import DESKTOP, PHONE, TIMEOUT_MS, OutageSite, screenshot
from tests.web.test_browser import send, sign_in, wait_for_reply

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

MARKDOWN_REPLY = """## Managing a mild fever

Take **paracetamol** as the leaflet says and drink water.

| Symptom | What to do |
|---|:---:|
| Fever over 39 °C | Call your doctor |
| Rash | Seek care today |

```python
def dose(weight_kg):
    return 15 * weight_kg
```

More at https://www.nhs.uk/conditions/fever-in-adults/"""

HOSTILE_REPLY = '<img src=x onerror="alert(1)"> <script>alert(2)</script> Stay **calm**.'


@pytest.fixture
def patient() -> User:
    return make_user(username="pat")


@pytest.fixture
def fake_llm(settings: Any) -> Iterator[FakeLlmServer]:
    """The live server's replies come from a local OpenAI-compatible server."""
    with FakeLlmServer(reply_text=MARKDOWN_REPLY) as server:
        settings.CHAT_RESPONDER = "openai"
        settings.OPENAI_BASE_URL = server.url
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_MODEL = "fake-model-1"
        settings.OPENAI_MAX_RETRIES = 0
        yield server


def tolerant_page(context: BrowserContext) -> tuple[Page, list[str]]:
    """A tab that records script and console errors, except the browser's own report of a request a
    test made fail on purpose ("Failed to load resource")."""
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    tab.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    return tab, problems


@pytest.fixture
def failing_page(context: BrowserContext) -> Iterator[Page]:
    tab, problems = tolerant_page(context)
    yield tab
    assert problems == [], "the page reported errors"


def reply_body(page: Page) -> Locator:
    return page.locator(".message--assistant .message-text").last


def conversation_url(server: LiveServer, session_id: str) -> str:
    return f"{server.url}/c/{session_id}"


# --- rendered, safe answers ------------------------------------------------------------------------


def test_streamed_provider_reply_is_rendered_as_markdown(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "What should I do about a fever?")
    wait_for_reply(page)

    body = reply_body(page)
    expect(body.locator("h2")).to_have_text("Managing a mild fever")
    expect(body.locator("strong")).to_have_text("paracetamol")
    expect(body.locator("table th")).to_have_text(["Symptom", "What to do"])
    expect(body.locator("table tbody tr")).to_have_count(2)
    expect(body.locator("table th").nth(1)).to_have_class(re.compile(r"\balign-center\b"))
    expect(body.locator("pre code")).to_contain_text("return 15 * weight_kg")
    expect(body.locator("pre code .hljs-keyword").first).to_have_text("def")
    link = body.get_by_role("link", name="https://www.nhs.uk/conditions/fever-in-adults/")
    expect(link).to_have_attribute("target", "_blank")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    assert "**" not in body.inner_text()
    screenshot(page, "20-markdown-reply")


def test_streamed_messages_get_their_times_when_the_reply_finishes(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "What should I do about a fever?")
    wait_for_reply(page)

    expect(page.locator(".message--user time.message-time")).to_have_count(1)
    expect(page.locator(".message--assistant time.message-time")).to_have_count(1)
    stamp = page.locator(".message--assistant time.message-time").get_attribute("datetime")
    assert stamp
    assert stamp.startswith("20")


def test_html_in_a_reply_never_runs(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    dialogs: list[str] = []

    def record(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", record)
    fake_llm.reply_text = HOSTILE_REPLY
    sign_in(page, live_server)
    send(page, "Hello")
    wait_for_reply(page)
    expect(reply_body(page)).to_contain_text('<img src=x onerror="alert(1)">')
    expect(reply_body(page).locator("strong")).to_have_text("calm")

    page.reload()  # the stored reply, rendered from the history
    expect(reply_body(page)).to_contain_text("<script>alert(2)</script>")
    assert page.locator("#message-list img, #message-list script").count() == 0
    assert dialogs == []
    screenshot(page, "21-html-in-reply-inert")


def test_links_that_could_run_script_are_not_links(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session = services.start_session(user_id=patient.pk, title="Links")
    services.append_message(session=session, role="user", content="links?")
    services.append_message(
        session=session,
        role="assistant",
        content="[click](javascript:alert(1)) and ![pixel](https://tracker.example/p.gif) and [ok](https://example.org/)",
    )
    sign_in(page, live_server)
    page.goto(conversation_url(live_server, session.session_id))

    body = reply_body(page)
    expect(body.get_by_role("link", name="ok")).to_have_attribute("href", "https://example.org/")
    assert body.locator("a[href^='javascript']").count() == 0
    assert body.locator("img").count() == 0
    expect(body.get_by_role("link", name="pixel")).to_have_attribute("rel", "noopener noreferrer")


def test_copy_buttons_copy_the_reply_and_a_code_block(
    live_server: LiveServer, browser: Browser, patient: User
) -> None:
    session = services.start_session(user_id=patient.pk, title="Code")
    services.append_message(session=session, role="user", content="show me")
    services.append_message(session=session, role="assistant", content=MARKDOWN_REPLY)
    context = browser.new_context(viewport=DESKTOP, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page, problems = tolerant_page(context)
    try:
        sign_in(page, live_server)
        page.goto(conversation_url(live_server, session.session_id))
        reply = page.locator(".message--assistant").last

        reply.get_by_role("button", name="Copy code").click()
        expect(reply.get_by_role("button", name="Copied")).to_be_visible()
        assert (
            page.evaluate("navigator.clipboard.readText()")
            == "def dose(weight_kg):\n    return 15 * weight_kg\n"
        )

        reply.get_by_role("button", name="Copy", exact=True).click()
        assert page.evaluate("navigator.clipboard.readText()") == MARKDOWN_REPLY
        screenshot(page, "22-copied")
        assert problems == []
    finally:
        context.close()


def test_citations_and_attachments_show_under_their_reply(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    session = services.start_session(user_id=patient.pk, title="Building rules")
    services.append_message(
        session=session,
        role="user",
        content="How far apart?",
        attachments=[{"type": "pdf", "name": "plan.pdf"}],
    )
    services.append_message(
        session=session,
        role="assistant",
        content="At least 40 m.",
        source_documents=[
            {"pdf": "OIB-RL2.pdf", "page": 12, "quote": "40 m"},
            {"title": "FAQ", "url": "https://example.test/faq"},
        ],
    )
    sign_in(page, live_server)
    page.goto(conversation_url(live_server, session.session_id))

    reply = page.locator(".message--assistant").last
    expect(reply.locator(".sources--sources li")).to_have_count(2)
    expect(reply.locator(".sources--sources")).to_contain_text("OIB-RL2.pdf, page 12")
    faq = reply.get_by_role("link", name="FAQ")
    expect(faq).to_have_attribute("href", "https://example.test/faq")
    expect(faq).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator(".message--user .sources--attachments")).to_contain_text("plan.pdf")
    image = {
        "content_type": "image_asset_pointer",
        "asset_pointer": "file-service://file-abc",
        "width": 512,
        "height": 512,
    }
    imported = services.start_session(user_id=patient.pk, title="Imported from ChatGPT")
    services.append_message(session=imported, role="user", content="[attachment]", attachments=[image])
    page.goto(conversation_url(live_server, imported.session_id))
    expect(page.locator(".message--user .sources--attachments")).to_contain_text("Image (512 \u00d7 512)")
    screenshot(page, "23-sources")


# --- conversation URLs ---------------------------------------------------------------------------


def test_a_new_conversation_moves_to_its_own_address(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    sign_in(page, live_server)
    send(page, "I have a sore throat")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    wait_for_reply(page)
    session_id = page.url.rsplit("/", 1)[1]

    page.reload()
    expect(page.locator("#chat-title")).to_contain_text("I have a sore throat")
    expect(page.locator("#message-list .message")).to_have_count(2)
    expect(page.locator(f'#session-list [data-session-id="{session_id}"] .session-link')).to_have_attribute(
        "aria-current", "true"
    )

    page.get_by_role("button", name="New conversation").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("#chat-title")).to_have_text("New conversation")


def test_back_and_forward_move_between_conversations(
    live_server: LiveServer, page: Page, patient: User
) -> None:
    first = session_with_messages(user_id=patient.pk, messages=2, title="Knee pain")
    second = session_with_messages(user_id=patient.pk, messages=4, title="Sleep problems")
    sign_in(page, live_server)

    page.get_by_role("button", name="Knee pain").click()
    expect(page).to_have_url(conversation_url(live_server, first.session_id))
    page.get_by_role("button", name="Sleep problems").click()
    expect(page).to_have_url(conversation_url(live_server, second.session_id))
    expect(page.locator("#message-list .message")).to_have_count(4)

    page.go_back()
    expect(page).to_have_url(conversation_url(live_server, first.session_id))
    expect(page.locator("#chat-title")).to_have_text("Knee pain")
    expect(page.locator("#message-list .message")).to_have_count(2)
    page.go_back()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.locator("#chat-title")).to_have_text("New conversation")
    page.go_forward()
    page.go_forward()
    expect(page.locator("#chat-title")).to_have_text("Sleep problems")
    expect(page.locator("#message-list .message")).to_have_count(4)


def test_someone_elses_conversation_address_is_not_found(
    live_server: LiveServer, failing_page: Page, patient: User
) -> None:
    page = failing_page
    other = session_with_messages(
        user_id=make_user(username="olga").pk, messages=2, title="Olga's private notes"
    )
    sign_in(page, live_server)

    response = page.goto(conversation_url(live_server, other.session_id))
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert "Olga" not in page.content()
    assert "message 1" not in page.content()
    screenshot(page, "24-not-found")


# --- never lose what was typed --------------------------------------------------------------------


def test_text_stays_in_the_box_after_a_server_error_and_retry_sends_it(
    live_server: LiveServer, failing_page: Page, patient: User
) -> None:
    page = failing_page
    sign_in(page, live_server)
    page.route("**/api/chat/send*", lambda route: route.fulfill(status=500, body="Server Error"))
    send(page, "My knee is swollen")

    banner = page.locator("#banner")
    expect(banner).to_contain_text("Medibot had a problem (500)")
    expect(banner).to_contain_text("Your message is still in the box")
    expect(page.get_by_label("Message", exact=True)).to_have_value("My knee is swollen")
    expect(page.locator("#message-list .message")).to_have_count(0)
    screenshot(page, "25-send-failed-500")

    page.unroute("**/api/chat/send*")
    banner.get_by_role("button", name="Retry").click()
    wait_for_reply(page)
    expect(page.locator(".message--user .message-text")).to_have_text(["My knee is swollen"])
    expect(page.get_by_label("Message", exact=True)).to_have_value("")
    expect(banner).to_be_hidden()


def test_text_stays_in_the_box_after_the_network_drops(
    live_server: LiveServer, failing_page: Page, patient: User
) -> None:
    page = failing_page
    sign_in(page, live_server)
    page.route("**/api/chat/send*", lambda route: route.abort("internetdisconnected"))
    send(page, "Is this rash serious?")

    expect(page.locator("#banner")).to_contain_text("Medibot cannot be reached")
    expect(page.get_by_label("Message", exact=True)).to_have_value("Is this rash serious?")
    expect(page.locator("#banner").get_by_role("button", name="Retry")).to_be_visible()
    screenshot(page, "26-send-failed-offline")


def test_too_many_messages_says_when_to_retry(
    live_server: LiveServer, failing_page: Page, patient: User
) -> None:
    page = failing_page
    sign_in(page, live_server)

    def throttled(route: Route) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "42", "Content-Type": "application/json"},
            body='{"detail": "Request was throttled. Expected available in 42 seconds."}',
        )

    page.route("**/api/chat/send*", throttled)
    send(page, "One more question")

    expect(page.locator("#banner")).to_contain_text("You can try again in 42 seconds")
    expect(page.get_by_label("Message", exact=True)).to_have_value("One more question")


def test_history_temporarily_unavailable_is_not_an_empty_conversation(
    live_server: LiveServer, failing_page: Page, patient: User
) -> None:
    page = failing_page
    session = session_with_messages(user_id=patient.pk, messages=2, title="Migraine diary")
    sign_in(page, live_server)
    full = f"**/api/chat/sessions/{session.session_id}/full*"
    page.route(
        full,
        lambda route: route.fulfill(
            status=503,
            headers={"Content-Type": "application/json"},
            body='{"detail": "Chat storage is temporarily unavailable."}',
        ),
    )
    page.get_by_role("button", name="Migraine diary").click()

    problem = page.locator("#history-unavailable")
    expect(problem).to_contain_text("The history of this conversation is temporarily unavailable")
    expect(page.locator("#chat-empty")).to_be_hidden()
    expect(page.locator("#chat-title")).to_have_text("Migraine diary")
    screenshot(page, "27-history-unavailable")

    page.unroute(full)
    problem.get_by_role("button", name="Try again").click()
    expect(page.locator("#message-list .message")).to_have_count(2)
    expect(problem).to_be_hidden()


def test_reloading_a_conversation_while_chat_storage_is_down_says_the_history_is_unavailable(
    outage_site_without_recent_history: OutageSite, context: BrowserContext, patient: User
) -> None:
    """Nothing to show while storage is down (no recent-history copy): say so, never "empty"."""
    outage_site = outage_site_without_recent_history
    page, problems = tolerant_page(context)
    sign_in(page, outage_site)
    send(page, "I twisted my ankle this morning")
    wait_for_reply(page)
    expect(page.locator("#token-usage")).to_have_attribute("data-loaded", "true")  # all requests finished
    address = page.url

    outage_site.mongo.signal(signal.SIGSTOP)
    try:
        page.reload()
        expect(page.locator("#history-unavailable")).to_contain_text("temporarily unavailable")
        expect(page.locator("#chat-empty")).to_be_hidden()
        expect(page.locator("#message-list .message")).to_have_count(0)
        assert page.url == address
        expect(page.locator("#sessions-empty")).to_contain_text("could not be loaded")
        screenshot(page, "33-reload-during-outage")
    finally:
        outage_site.mongo.signal(signal.SIGCONT)

    page.get_by_role("button", name="Try again").click()
    expect(page.locator("#message-list .message")).to_have_count(2)
    expect(page.locator("#chat-title")).to_contain_text("I twisted my ankle")
    expect(page.locator("#session-list .session-link")).to_have_count(1)
    assert problems == []


# --- layout and details ---------------------------------------------------------------------------


def test_empty_state_has_the_emergency_notice(live_server: LiveServer, page: Page, patient: User) -> None:
    sign_in(page, live_server)
    expect(page.get_by_text("If this is an emergency, call your local emergency number")).to_be_visible()
    screenshot(page, "28-empty-state")


def test_typing_is_animated_and_announced_politely(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    fake_llm.delay_seconds = 1.5
    sign_in(page, live_server)
    send(page, "Hello")

    dots = page.locator(".typing-dots span").first
    expect(dots).to_be_visible()
    assert dots.evaluate("(dot) => getComputedStyle(dot).animationName") != "none"
    announcer = page.locator("#announcer")
    expect(announcer).to_have_text("Medibot is typing…")
    expect(announcer).to_have_attribute("aria-live", "polite")
    wait_for_reply(page)
    expect(page.locator(".typing")).to_have_count(0)


def test_token_usage_is_in_the_details_panel_not_the_header(
    live_server: LiveServer, page: Page, patient: User, fake_llm: FakeLlmServer
) -> None:
    sign_in(page, live_server)
    send(page, "Hello")
    wait_for_reply(page)
    expect(page.locator("#token-usage")).to_have_attribute("data-loaded", "true")

    expect(page.locator("#token-usage")).to_be_hidden()
    assert "Tokens" not in page.locator(".chat-header").inner_text()
    page.locator("#details-menu summary").click()
    expect(page.locator("#token-usage")).to_have_text("1,500")
    expect(page.locator("#details-messages")).to_have_text("2")
    screenshot(page, "29-details-panel")


def test_long_titles_stay_on_one_line(live_server: LiveServer, page: Page, patient: User) -> None:
    title = "A very long conversation title about headaches, fevers, sleep and everything else " * 2
    session = session_with_messages(user_id=patient.pk, messages=2, title=title[:80])
    sign_in(page, live_server)
    page.goto(conversation_url(live_server, session.session_id))

    heading = page.locator("#chat-title")
    expect(heading).to_contain_text("A very long conversation title")
    assert heading.evaluate("(h) => getComputedStyle(h).textOverflow") == "ellipsis"
    assert heading.evaluate("(h) => h.scrollWidth > h.clientWidth")
    assert heading.evaluate("(h) => h.getBoundingClientRect().height") < 2 * 1.5 * 20.8


def test_phone_layout_has_one_actions_menu_and_a_compact_composer(
    live_server: LiveServer, browser: Browser, patient: User
) -> None:
    session = session_with_messages(user_id=patient.pk, messages=4, title="Back pain")
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page, problems = tolerant_page(context)
    try:
        sign_in(page, live_server)
        page.goto(conversation_url(live_server, session.session_id))
        expect(page.locator("#message-list .message")).to_have_count(4)

        expect(page.get_by_role("button", name="Rename")).to_be_hidden()
        header = page.locator(".chat-header").bounding_box()
        composer = page.locator("#composer").bounding_box()
        assert header
        assert composer
        assert header["height"] <= 64
        assert composer["height"] <= 72
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        screenshot(page, "30-phone-conversation")
        box = page.get_by_label("Message", exact=True)
        box.fill("first line\nsecond line\nthird line")
        grown = box.bounding_box()
        assert grown
        assert grown["height"] > 60
        box.fill("")

        menu = page.get_by_role("button", name="Conversation actions")
        menu.click()
        expect(menu).to_have_attribute("aria-expanded", "true")
        for name in ("Rename", "Pin", "Archive", "Delete"):
            expect(page.get_by_role("button", name=name, exact=True)).to_be_visible()
        screenshot(page, "31-phone-actions-menu")
        page.get_by_role("button", name="Rename").click()
        expect(page.get_by_role("dialog")).to_be_visible()
        expect(menu).to_have_attribute("aria-expanded", "false")
        assert problems == []
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_colours_follow_the_system_scheme(
    live_server: LiveServer, browser: Browser, patient: User, scheme: str
) -> None:
    session = services.start_session(user_id=patient.pk, title="Colours")
    services.append_message(session=session, role="user", content="show me code")
    services.append_message(session=session, role="assistant", content=MARKDOWN_REPLY)
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme, locale="en-GB")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page, problems = tolerant_page(context)
    try:
        sign_in(page, live_server)
        page.goto(conversation_url(live_server, session.session_id))
        expect(page.locator(".message--assistant pre code")).to_be_visible()

        def luminance(selector: str) -> float:
            rgb = page.locator(selector).first.evaluate("(node) => getComputedStyle(node).backgroundColor")
            red, green, blue = (int(part) for part in re.findall(r"\d+", rgb)[:3])
            return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255

        dark = scheme == "dark"
        for selector in ("html", ".message--assistant", ".composer"):
            assert (luminance(selector) < 0.25) is dark, selector
        screenshot(page, f"32-{scheme}-mode")
        assert problems == []
    finally:
        context.close()
