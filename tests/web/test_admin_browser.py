"""Staff in the Django admin, in a real browser (Debian's chromium via Playwright) against the live
server: find a patient, read the conversation as a thread, page back, check the audit log.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from audit.models import AuditEvent
from chats import services
from chats.models import ChatSession
from tests.chats.factories import bulk_messages, exchange
from tests.factories import make_user
from tests.web.conftest import screenshot

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

PASSWORD = "correct-horse-battery-staple"
SUPPORT_PERMISSIONS = [
    ("chats", "view_chatsession"),
    ("accounts", "read_patient_chats"),
    ("audit", "view_auditevent"),
    ("accounts", "view_user"),
]


def _staff(username: str, permissions: list[tuple[str, str]]) -> User:
    user = make_user(username=username, is_staff=True, role=User.Role.STAFF)
    for app_label, codename in permissions:
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    page.goto(f"{server.url}/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#site-name")).to_have_text("Medibot administration")


@pytest.fixture
def conversation() -> ChatSession:
    patient = make_user(username="demo-patient", email="demo@example.test", phone_number="+4915112345678")
    session = services.start_session(user_id=patient.pk, title="Headache since Monday")
    bulk_messages(session=session, count=118)
    exchange(
        session=session,
        user_content="The headache is worse in the morning.\nShould I worry? <b>really</b>",
        reply=services.Reply(
            content="**Morning headaches** can have several causes:\n- poor sleep\n- caffeine withdrawal",
            model="medibot-small",
            prompt_tokens=120,
            completion_tokens=48,
            cost=Decimal("0.00021"),
            source_documents=[{"title": "NHS: Headaches", "url": "https://www.nhs.uk/conditions/headaches/"}],
        ),
    )
    return ChatSession.objects.get(pk=session.pk)


def test_support_finds_a_patient_reads_the_thread_pages_back_and_checks_the_audit_log(
    live_server: LiveServer, page: Page, conversation: ChatSession
) -> None:
    _staff("support-sue", SUPPORT_PERMISSIONS)
    _sign_in(page, live_server, "support-sue")

    page.goto(f"{live_server.url}/admin/chats/chatsession/")
    page.locator("#searchbar").fill("+49 151 12345678")
    page.locator("#changelist-search").get_by_role("button", name="Search").click()
    expect(page.locator("#result_list")).to_contain_text("Headache since Monday")
    expect(page.locator("#result_list")).to_contain_text("demo-patient")
    screenshot(page, "admin-01-people-search")

    page.locator("#result_list").get_by_role("link", name="Headache since Monday").click()
    thread = page.locator(".medibot-thread")
    expect(thread.locator("h2")).to_contain_text("messages 71-120 of 120")
    last = thread.locator(".medibot-message").last
    expect(last.locator(".medibot-message__text")).to_have_text(
        "**Morning headaches** can have several causes:\n- poor sleep\n- caffeine withdrawal"
    )
    expect(last).to_contain_text("120 + 48 = 168 tokens")
    question = thread.locator(".medibot-message--user").last.locator(".medibot-message__text")
    expect(question).to_have_text("The headache is worse in the morning.\nShould I worry? <b>really</b>")
    assert thread.locator(".medibot-message__text b").count() == 0
    expect(page.locator(".field-owner_link")).to_contain_text("demo-patient")
    screenshot(page, "admin-02-thread")

    thread.get_by_role("link", name="← Older messages").first.click()
    expect(page.locator(".medibot-thread h2")).to_contain_text("messages 21-70 of 120")
    expect(page.locator(".medibot-message").first).to_contain_text("bulk message 21 about blood pressure")

    page.set_viewport_size({"width": 1600, "height": 900})
    page.goto(f"{live_server.url}/admin/audit/auditevent/")
    page.get_by_label("Username, email, phone or user id").nth(1).fill("demo-patient")
    page.get_by_label("Username, email, phone or user id").nth(1).press("Enter")
    rows = page.locator("#result_list tbody tr")
    # two listings (all sessions, then the search) and two pages of the thread: one event each
    expect(rows).to_have_count(4)
    expect(rows.first).to_contain_text("messages 21-70 of 120")
    expect(rows.first).to_contain_text("support-sue")
    page.locator("#toggle-nav-sidebar").click()  # the whole table in the screenshot
    expect(page.locator("#result_list th.column-outcome")).to_be_in_viewport()
    screenshot(page, "admin-03-audit-log")
    assert (
        AuditEvent.objects.filter(owner_id=conversation.user_id, object_id=conversation.session_id).count()
        == 2
    )


def test_staff_without_the_permission_cannot_open_a_conversation(
    live_server: LiveServer, context: BrowserContext, conversation: ChatSession
) -> None:
    """(Its own tab: the 403 is the expected console error the ``page`` fixture would refuse.)"""
    _staff("clerk-carl", [("chats", "view_chatsession")])
    page = context.new_page()
    _sign_in(page, live_server, "clerk-carl")

    response = page.goto(f"{live_server.url}/admin/chats/chatsession/{conversation.pk}/change/")

    assert response is not None
    assert response.status == 403
