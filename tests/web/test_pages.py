"""The server-rendered pages: sign-in, registration, logout and the chat page shell (no browser)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from django.contrib.staticfiles import finders
from django.core.cache import cache
from django.test import Client

from accounts.models import User
from tests.factories import make_user

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse

pytestmark = pytest.mark.django_db(databases=["default"])

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """The failed-login budget lives in the cache; no test may inherit another's."""
    cache.clear()
    yield
    cache.clear()


def register(client: Client, **overrides: str) -> _MonkeyPatchedWSGIResponse:
    form = {
        "username": "newpatient",
        "email": "newpatient@example.test",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    return client.post("/register/", {**form, **overrides})


def test_anonymous_visitor_of_the_chat_page_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")


def test_pages_forbid_inline_script_and_framing(client: Client) -> None:
    policy = client.get("/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy


def test_chat_page_has_no_inline_script_and_is_never_cached(client: Client) -> None:
    client.force_login(make_user(username="carol"))
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts
    assert all('src="/static/web/' in attributes for attributes in scripts)
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html)  # no event-handler attributes
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Security-Policy"]


def test_chat_page_carries_the_csrf_token_for_its_api_calls(client: Client) -> None:
    client.force_login(make_user(username="carol"))
    html = client.get("/").content.decode()
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert token is not None
    assert len(token[1]) == 64


def test_chat_page_names_the_signed_in_user_escaped(client: Client) -> None:
    client.force_login(make_user(username="o'neil"))
    html = client.get("/").content.decode()
    assert "o&#x27;neil" in html


def test_static_assets_of_the_chat_page_are_found() -> None:
    assert finders.find("web/chat.js")
    assert finders.find("web/chat.css")


def test_every_script_and_stylesheet_of_the_chat_page_is_a_committed_static_file(client: Client) -> None:
    client.force_login(make_user(username="carol"))
    html = client.get("/").content.decode()
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    vendored = {"web/vendor/markdown-it.min.js", "web/vendor/purify.min.js", "web/vendor/highlight.min.js"}
    assert vendored <= set(assets)
    assert [asset for asset in assets if not finders.find(asset)] == []
    assert "//" not in "".join(re.findall(r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', html))


def test_registration_creates_a_patient_and_signs_them_in(client: Client) -> None:
    response = register(client)
    assert (response.status_code, response["Location"]) == (302, "/")
    user = User.objects.get(username="newpatient")
    assert (user.role, user.is_staff, user.email) == (User.Role.PATIENT, False, "newpatient@example.test")
    assert client.get("/").status_code == 200


def test_registration_with_a_taken_username_explains_next_to_the_field(client: Client) -> None:
    make_user(username="newpatient")
    response = register(client)
    html = response.content.decode()
    assert response.status_code == 200
    assert "A user with that username already exists." in html
    assert 'aria-describedby="id_username_errors id_username_helptext"' in html
    assert 'aria-invalid="true"' in html


def test_registration_refuses_a_weak_password_with_the_validators_message(client: Client) -> None:
    response = register(client, password="12345678", password_confirm="12345678")
    assert "This password is entirely numeric." in response.content.decode()
    assert not User.objects.filter(username="newpatient").exists()


def test_registration_refuses_two_different_passwords(client: Client) -> None:
    response = register(client, password_confirm=PASSWORD + "!")
    assert "The two passwords do not match." in response.content.decode()
    assert not User.objects.filter(username="newpatient").exists()


def test_registration_without_the_csrf_token_is_refused() -> None:
    response = register(Client(enforce_csrf_checks=True))
    assert response.status_code == 403
    assert not User.objects.filter(username="newpatient").exists()


def test_signed_in_user_opening_registration_goes_to_the_chat(client: Client) -> None:
    client.force_login(make_user(username="carol"))
    assert client.get("/register/")["Location"] == "/"


def test_sign_in_leads_to_the_chat_page(client: Client) -> None:
    make_user(username="carol")
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/").status_code == 200


def test_wrong_password_shows_one_message_for_every_failure(client: Client) -> None:
    make_user(username="carol")
    response = client.post("/login/", {"username": "carol", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert client.get("/").status_code == 302


def test_failed_sign_ins_share_the_api_budget_and_then_even_the_right_password_waits(client: Client) -> None:
    make_user(username="carol")
    for _ in range(3):  # as a browser sends the form
        client.post(
            "/login/",
            urlencode({"username": "carol", "password": "wrong"}),
            "application/x-www-form-urlencoded",
        )
    for _ in range(2):
        client.post("/api/auth/token", {"username": "carol", "password": "wrong"})
    response = client.post("/login/", {"username": "carol", "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert client.get("/").status_code == 302


def test_successful_sign_ins_do_not_use_up_the_budget(client: Client) -> None:
    make_user(username="carol")
    for _ in range(6):
        assert client.post("/login/", {"username": "carol", "password": PASSWORD}).status_code == 302
        client.post("/logout/")


def test_logout_is_a_post_and_ends_the_session(client: Client) -> None:
    client.force_login(make_user(username="carol"))
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert (response.status_code, response["Location"]) == (302, "/login/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db(databases=["default", "chats"])
def test_conversation_address_opens_the_chat_page_on_that_conversation(client: Client) -> None:
    from tests.chats.factories import session_with_messages

    user = make_user(username="carol")
    session = session_with_messages(user_id=user.pk, messages=2, title="Knee pain")
    client.force_login(user)
    response = client.get(f"/c/{session.session_id}")
    assert response.status_code == 200
    assert f'data-session-id="{session.session_id}"' in response.content.decode()


@pytest.mark.django_db(databases=["default", "chats"])
def test_someone_elses_or_an_unknown_conversation_address_is_404_without_data(client: Client) -> None:
    from tests.chats.factories import session_with_messages

    other = session_with_messages(user_id=make_user(username="olga").pk, messages=2, title="Olga's notes")
    client.force_login(make_user(username="carol"))
    for session_id in (other.session_id, "00000000-0000-4000-8000-000000000000", "x" * 65):
        response = client.get(f"/c/{session_id}")
        assert response.status_code == 404
        assert "Olga" not in response.content.decode()
        assert "data-session-id" not in response.content.decode()


def test_anonymous_visitor_of_a_conversation_address_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/c/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/c/00000000-0000-4000-8000-000000000000"
