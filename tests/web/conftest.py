"""Browser fixtures: Playwright driving Debian's chromium (headless) against the live test server."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from medibot.embedded import free_port, wait_for_port
from tests.support.processes import Background, MongoServer, child_env, manage

CHROMIUM = os.environ.get("MEDIBOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000  # the deadline of every action and every expect(): generous for a busy CI machine


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for the module. Missing chromium fails the run in CI and skips only a local run."""
    if not Path(CHROMIUM).exists():
        message = f"chromium is missing at {CHROMIUM} (scripts/test.sh installs Debian's chromium)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    # Playwright's sync API keeps an event loop running in this thread, and Django refuses ORM calls
    # from a thread with a running loop. The tests themselves are synchronous, so the check is moot.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        expect.set_options(timeout=TIMEOUT_MS)
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, accept_downloads=True, locale="en-GB")
    ctx.set_default_timeout(TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    tab = context.new_page()
    problems = watch_for_problems(tab)
    yield tab
    assert problems == [], "the page reported errors"


def watch_for_problems(page: Page) -> list[str]:
    """Script errors and console errors (failed requests, Content-Security-Policy violations)."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text} ({message.location.get('url')})")
            if message.type == "error"
            else None
        ),
    )
    return problems


def screenshot(page: Page, name: str) -> None:
    """Saved as a test artefact (test-artifacts/ is not committed)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


@dataclass(frozen=True)
class OutageSite:
    """A web server process of its own whose chat storage (``mongo``) a test may stop and resume."""

    url: str
    mongo: MongoServer
    env: dict[str, str]


def _outage_site(tmp_path: Path, **extra_env: str) -> Iterator[OutageSite]:
    mongo = MongoServer(tmp_path / "mongo")
    mongo.start()
    try:
        env = child_env(
            MONGODB_URI=mongo.uri,
            MONGODB_DATABASE="web_outage",
            MONGODB_TIMEOUT_MS="1000",
            MONGODB_OPERATION_TIMEOUT_MS="1000",
            CELERY_BROKER_URL="memory://",
            CELERY_RESULT_BACKEND="cache+memory://",
            **extra_env,
        )
        migrated = manage(
            "migrate", "--database", "chats", env={**env, "MONGODB_OPERATION_TIMEOUT_MS": "30000"}
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        port = free_port()
        log = tmp_path / "web.log"
        # --insecure: the static files handler, as pytest-django's live server has with DEBUG off.
        argv = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--insecure"]
        server = Background(argv, env, log)
        try:
            try:
                wait_for_port(port, timeout=60, process=server.process)
            except RuntimeError as exc:
                pytest.fail(f"the web server did not start: {exc}\n{log.read_text()[-3000:]}")
            yield OutageSite(url=f"http://127.0.0.1:{port}", mongo=mongo, env=env)
        finally:
            server.kill()
    finally:
        mongo.stop()


@pytest.fixture
def outage_site(tmp_path: Path) -> Iterator[OutageSite]:
    """``runserver`` on the test relational database and a SecantusDB of this test only, with a
    short request deadline (1 s), so stopping that SecantusDB is a real, quickly noticed outage."""
    yield from _outage_site(tmp_path)


@pytest.fixture
def outage_site_without_recent_history(tmp_path: Path) -> Iterator[OutageSite]:
    """The same, with the recent-history cache unreachable (a refused Redis port): an outage then
    leaves nothing to show, as for a conversation older than the cache keeps."""
    yield from _outage_site(tmp_path, CHAT_RECENT_CACHE_URL="redis://127.0.0.1:9/0")
