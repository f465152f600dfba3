"""The search language of an account: chosen from ``Accept-Language`` at registration (API and web
page), read and changed through ``/api/auth/me``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import make_user, token_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_for_tests")]

PASSWORD = "correct-horse-battery-staple"
ME_URL = "/api/auth/me"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _registered_language(accept_language: str | None = None) -> str:
    headers = {"Accept-Language": accept_language} if accept_language is not None else {}
    response = APIClient().post(
        "/api/auth/register",
        {"username": "newpatient", "password": PASSWORD, "email": "new@example.test"},
        format="json",
        headers=headers,
    )
    assert response.status_code == 201, response.content
    return User.objects.get(pk=response.json()["id"]).search_language


def _client(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.mark.parametrize(
    ("accept_language", "expected"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr"),
        ("en;q=0.2, de;q=0.7", "de"),
        ("ja, pt-BR;q=0.5", "pt"),
        ("ES-mx", "es"),
        ("nl;q=0, it;q=0.1", "it"),
        ("ja, zh;q=0.9", "auto"),
        ("*", "auto"),
        ("fr;q=banana", "auto"),
    ],
)
def test_registration_takes_the_best_supported_accept_language(accept_language: str, expected: str) -> None:
    assert _registered_language(accept_language) == expected


def test_registration_without_accept_language_detects_per_message() -> None:
    assert _registered_language() == "auto"


@pytest.mark.urls("medibot.urls")
def test_the_web_registration_page_takes_accept_language_too(client: Client) -> None:
    response = client.post(
        "/register/",
        {
            "username": "webpatient",
            "email": "web@example.test",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
        HTTP_ACCEPT_LANGUAGE="it-IT, it;q=0.9",
    )

    assert response.status_code == 302, response.content[:500]
    assert User.objects.get(username="webpatient").search_language == "it"


def test_me_shows_and_changes_the_search_language() -> None:
    client = _client(make_user(username="amelie"))

    shown = client.get(ME_URL).json()["search_language"]
    changed = client.patch(ME_URL, {"search_language": "nl"}, format="json")

    assert shown == "auto"
    assert changed.status_code == 200
    assert changed.json()["search_language"] == "nl"
    assert User.objects.get(username="amelie").search_language == "nl"


@pytest.mark.parametrize("value", ["xx", "fr-CH", "", 7, None])
def test_an_unsupported_search_language_is_a_400_with_a_message(value: object) -> None:
    user = make_user(username="amelie", search_language="fr")

    response = _client(user).patch(ME_URL, {"search_language": value}, format="json")

    assert response.status_code == 400
    assert "not a supported search language" in " ".join(response.json()["search_language"])
    user.refresh_from_db()
    assert user.search_language == "fr"


def test_a_patch_without_the_field_changes_nothing() -> None:
    user = make_user(username="amelie", search_language="de")

    response = _client(user).patch(ME_URL, {}, format="json")

    assert response.status_code == 200
    assert response.json()["search_language"] == "de"
