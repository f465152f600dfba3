"""The API docs work offline under the project's one Content-Security-Policy."""

from __future__ import annotations

import pytest
from django.test import Client
from playwright.sync_api import BrowserContext, Page, Route, expect
from pytest_django.live_server_helper import LiveServer

from tests.factories import make_user
from tests.web.conftest import watch_for_problems

pytestmark = pytest.mark.django_db(databases=["default"])


def offline(context: BrowserContext, server: LiveServer) -> list[str]:
    """Every request to another origin is aborted and recorded: the network is blocked."""
    blocked: list[str] = []

    def route(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", route)
    return blocked


def test_swagger_ui_loads_with_the_network_blocked(
    context: BrowserContext, page: Page, live_server: LiveServer
) -> None:
    blocked = offline(context, live_server)
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Medibot API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    assert blocked == []


def test_redoc_loads_with_the_network_blocked(context: BrowserContext, live_server: LiveServer) -> None:
    blocked = offline(context, live_server)
    page = context.new_page()
    problems = watch_for_problems(page)
    page.goto(f"{live_server.url}/api/redoc/")
    expect(page.locator("h1").first).to_contain_text("Medibot API", timeout=60_000)
    assert blocked == []
    # ReDoc's footer hard-codes Redocly's logo from its CDN: the policy refuses it, nothing else.
    assert [problem for problem in problems if "cdn.redoc.ly/redoc/logo-mini.svg" not in problem] == []


@pytest.mark.parametrize("path", ["/api/docs/", "/admin/login/", "/login/", "/api/chat/health"])
def test_docs_admin_and_pages_share_the_strict_policy(path: str) -> None:
    policy = Client().get(path)["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy


def test_redoc_relaxes_only_inline_styles() -> None:
    policy = Client().get("/api/redoc/")["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ")}
    assert directives["style-src"] == ["'self'", "'unsafe-inline'"]
    assert directives["script-src"] == ["'self'"]


def test_the_signed_in_admin_index_carries_the_policy() -> None:
    client = Client()
    client.force_login(make_user(username="root", is_staff=True, is_superuser=True))
    response = client.get("/admin/")
    assert response.status_code == 200
    assert "script-src 'self'" in response["Content-Security-Policy"]
