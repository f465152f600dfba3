"""Import and export from the chat page (issues 17 and 21): a ChatGPT export uploaded from the
page imports on a real Celery worker with a progress bar, then its conversations are in the list;
"Export all conversations" builds the manifest zip and offers it for download.

Headless chromium against the live server; the worker is a thread of this process on the same
broker. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import User
from chats.models import ChatMessage
from tests.chats.factories import session_with_messages
from tests.factories import make_user
from tests.support.chatgpt_exports import write_export
from tests.support.worker import worker_thread
from tests.web.conftest import screenshot
from tests.web.test_browser import sign_in
from tests.web.test_chat_page import tolerant_page

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

CONVERSATIONS = 300


@pytest.fixture
def patient() -> User:
    return make_user(username="pat")


@pytest.fixture
def worker(tmp_path: Path, settings: Any) -> Iterator[None]:
    settings.CHAT_TRANSFER_DIR = str(tmp_path / "transfers")
    settings.CHAT_IMPORT_BATCH_SIZE = 10  # many batches: the bar has steps to show
    with worker_thread("import"):
        yield


@pytest.fixture
def refused_page(context: BrowserContext) -> Iterator[Page]:
    """A tab whose only tolerated console error is the browser's report of the refused upload."""
    tab, problems = tolerant_page(context)
    yield tab
    assert problems == [], "the page reported errors"


def open_panel(page: Page) -> None:
    page.get_by_text("Import and export", exact=True).click()


def test_a_chatgpt_export_imports_with_a_progress_bar_and_appears_in_the_list(
    live_server: LiveServer, page: Page, patient: User, worker: None, tmp_path: Path
) -> None:
    export = write_export(tmp_path / "conversations.json", conversations=CONVERSATIONS)
    sign_in(page, live_server)
    open_panel(page)
    expect(page.get_by_label("Import from")).to_have_value("chatgpt")

    page.get_by_label("Export file").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()

    status = page.locator("#transfer-text")
    bar = page.locator("#transfer-progress")
    expect(bar).to_be_visible()
    expect(status).to_have_text(re.compile(rf"^[1-9]\d* of {2 * CONVERSATIONS} messages read"))  # it moves
    screenshot(page, "60-import-progress")
    expect(status).to_have_text(
        f"Import finished: {2 * CONVERSATIONS} messages in {CONVERSATIONS} new conversations added, "
        "0 already there, 0 set aside.",
        timeout=120_000,
    )
    assert bar.get_attribute("value") == bar.get_attribute("max") == str(2 * CONVERSATIONS)
    expect(page.locator("#session-list")).to_contain_text(f"Imported conversation {CONVERSATIONS - 1}")
    screenshot(page, "61-import-finished")
    assert ChatMessage.objects.filter(user_id=patient.pk).count() == 2 * CONVERSATIONS


def test_a_reload_during_an_import_keeps_showing_it_to_the_end(
    live_server: LiveServer, page: Page, patient: User, worker: None, tmp_path: Path
) -> None:
    export = write_export(tmp_path / "conversations.json", conversations=CONVERSATIONS)
    sign_in(page, live_server)
    open_panel(page)
    page.get_by_label("Export file").set_input_files(str(export))
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("#transfer-text")).to_contain_text("messages read")

    page.reload()

    expect(page.locator("#transfer-text")).to_contain_text("Import finished", timeout=120_000)
    expect(page.locator("#session-list")).to_contain_text(f"Imported conversation {CONVERSATIONS - 1}")


def test_a_file_that_is_no_export_is_refused_with_a_reason(
    live_server: LiveServer, refused_page: Page, patient: User, worker: None, tmp_path: Path
) -> None:
    page = refused_page
    notes = tmp_path / "notes.txt"
    notes.write_text("my symptoms, not an export")
    sign_in(page, live_server)
    open_panel(page)

    page.get_by_label("Export file").set_input_files(str(notes))
    page.get_by_role("button", name="Import", exact=True).click()

    expect(page.locator("#transfer-text")).to_contain_text("This file is not a ChatGPT export")
    screenshot(page, "62-import-refused")
    assert ChatMessage.objects.filter(user_id=patient.pk).count() == 0


def test_export_all_conversations_offers_the_zip_with_its_manifest(
    live_server: LiveServer, page: Page, patient: User, worker: None, tmp_path: Path
) -> None:
    session_with_messages(user_id=patient.pk, messages=2, title="Headache")
    session_with_messages(user_id=patient.pk, messages=4, title="Sleep")
    sign_in(page, live_server)
    open_panel(page)

    page.get_by_role("button", name="Export all conversations").click()
    link = page.get_by_role("link", name="Download the zip")
    expect(link).to_be_visible(timeout=60_000)
    expect(page.locator("#transfer-text")).to_have_text("Your export is ready: 2 conversations.")
    screenshot(page, "63-export-ready")
    with page.expect_download() as download_info:
        link.click()
    saved = tmp_path / "export.zip"
    download_info.value.save_as(saved)

    with zipfile.ZipFile(saved) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        assert len(manifest["files"]) == 2
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
