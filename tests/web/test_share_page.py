"""Sharing a conversation with the care team from the chat page (issue 17): the patient shares, the
clinician finds it under "Shared with me" and reads it read-only, the patient unshares, and the
clinician's access ends at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from audit.models import AuditEvent
from chats.models import ChatSession
from tests.chats.factories import session_with_messages
from tests.ehr.factories import make_clinician, make_profile
from tests.factories import make_user
from tests.web.conftest import DESKTOP, TIMEOUT_MS, screenshot
from tests.web.test_browser import sign_in
from tests.web.test_chat_page import tolerant_page

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)


@pytest.fixture
def clinician() -> User:
    return make_clinician(username="dr-grey", first_name="Meredith", last_name="Grey")


@pytest.fixture
def patient(clinician: User) -> User:
    user = make_user(username="pat")
    make_profile(user=user, clinicians=[clinician])
    return user


@pytest.fixture
def conversation(patient: User) -> ChatSession:
    return session_with_messages(user_id=patient.pk, messages=4, title="Knee pain after running")


@pytest.fixture
def clinician_context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, locale="en-GB")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


def set_sharing(page: Page, action: str, status: str) -> None:
    page.get_by_role("button", name="Share", exact=True).click()
    dialog = page.get_by_role("dialog", name="Share with my care team")
    expect(dialog.get_by_role("button", name=action)).to_be_enabled()
    dialog.get_by_role("button", name=action).click()
    expect(dialog.locator("#share-status")).to_contain_text(status)
    screenshot(page, f"70-share-dialog-{'shared' if action.startswith('Share') else 'unshared'}")
    dialog.get_by_role("button", name="Close").click()


def test_patient_shares_clinician_reads_patient_unshares_and_access_ends(
    live_server: LiveServer,
    page: Page,
    clinician_context: BrowserContext,
    patient: User,
    clinician: User,
    conversation: ChatSession,
) -> None:
    sign_in(page, live_server, "pat")
    page.goto(f"{live_server.url}/c/{conversation.session_id}")
    expect(page.locator("#chat-title")).to_have_text("Knee pain after running")
    set_sharing(page, "Share with my care team", "Shared with your care team")

    doctor, problems = tolerant_page(clinician_context)
    sign_in(doctor, live_server, "dr-grey")
    shared = doctor.locator("#shared-list .shared-link")
    expect(shared).to_have_count(1)
    expect(shared).to_contain_text("Knee pain after running")
    expect(shared).to_contain_text("pat · shared")
    shared.click()
    expect(doctor).to_have_url(f"{live_server.url}/shared/{conversation.session_id}")
    expect(doctor.locator("#chat-title")).to_have_text("Knee pain after running")
    expect(doctor.locator("#message-list .message")).to_have_count(4)
    expect(doctor.locator("#message-list .message").first).to_contain_text("message 1 of the session")
    expect(doctor.locator("textarea, #composer")).to_have_count(0)
    screenshot(doctor, "71-clinician-reads-shared-conversation")
    reads = AuditEvent.objects.filter(owner_id=patient.pk, actor_id=clinician.pk, action="read")
    assert reads.filter(object_id=conversation.session_id).count() >= 2

    set_sharing(page, "Stop sharing", "Not shared")

    response = doctor.reload()
    assert response is not None
    assert response.status == 404
    doctor.goto(f"{live_server.url}/")
    expect(doctor.locator("#shared-status")).to_have_text("Nothing has been shared with you yet.")
    screenshot(doctor, "72-clinician-after-unshare")
    assert problems == []
