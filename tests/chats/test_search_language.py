"""Search in each user's language (issue 19): the profile's setting, taken from ``Accept-Language``
at registration and changed through ``PATCH /api/auth/me``, is the language the chat turn stems
the user's messages and titles in; ``auto`` detects it per message. Through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts import languages
from chats import search
from tests.chats.encryption_keys import own_keys

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

PASSWORD = "correct-horse-battery-staple"
# Too short to detect (no frequent word of any language): English by default, where "signaux"
# stays "signaux" and no query for "signal" reaches it; French stems it to "signal".
SHORT_FRENCH = "Signaux faibles"


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _register(username: str, accept_language: str | None = None) -> APIClient:
    client = APIClient()
    headers = {"Accept-Language": accept_language} if accept_language is not None else {}
    response = client.post(
        "/api/auth/register",
        {"username": username, "password": PASSWORD, "email": f"{username}@example.test"},
        format="json",
        headers=headers,
    )
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    return client


def _send(client: APIClient, text: str) -> str:
    """The id of the user's stored message."""
    response = client.post("/api/chat/send", {"message": text}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["user_message"]["message_id"])


def _found(client: APIClient, query: str) -> dict[str, Any]:
    response = client.get("/api/chat/search", {"q": query})
    assert response.status_code == 200, response.content
    return dict(response.json()["data"])


def _message_ids(client: APIClient, query: str) -> list[str]:
    return [hit["message_id"] for hit in _found(client, query)["messages"]]


def test_the_profile_offers_exactly_the_languages_search_stems_in() -> None:
    assert set(languages.SEARCH_LANGUAGES) == set(search.LANGUAGES)


def test_registration_takes_the_language_accept_language_prefers() -> None:
    client = _register("amelie", "fr-CH, fr;q=0.9, en;q=0.8")

    assert client.get("/api/auth/me").json()["search_language"] == "fr"


@pytest.mark.parametrize(("stored", "query"), [("Fièvre", "fièvres"), (SHORT_FRENCH, "signal")])
def test_a_french_users_word_is_found_in_a_message_too_short_to_detect(stored: str, query: str) -> None:
    client = _register("amelie", "fr-CH, fr;q=0.9, en;q=0.8")
    message_id = _send(client, stored)

    assert message_id in _message_ids(client, query)


def test_with_encryption_on_a_french_users_new_word_is_found_by_its_prefix(tmp_path: Path) -> None:
    """The vocabulary learns a new term's prefixes from the text, stemmed in the language the
    term was stored in (the profile's), not in the one detection would pick."""
    with own_keys(tmp_path):
        client = _register("amelie", "fr-CH, fr;q=0.9, en;q=0.8")
        message_id = _send(client, SHORT_FRENCH)

        assert message_id in _message_ids(client, "signa")


def test_another_users_language_never_affects_yours() -> None:
    french = _register("amelie", "fr")
    detecting = _register("bob")
    french_message = _send(french, SHORT_FRENCH)
    _send(detecting, SHORT_FRENCH)

    assert _message_ids(french, "signal") == [french_message]
    assert _message_ids(detecting, "signal") == []
    assert detecting.get("/api/auth/me").json()["search_language"] == "auto"


def test_a_session_title_is_stemmed_in_the_users_language() -> None:
    client = _register("amelie", "fr")
    created = client.post("/api/chat/sessions", {"title": SHORT_FRENCH}, format="json")
    assert created.status_code == 201, created.content

    titles = [session["session_id"] for session in _found(client, "signal")["sessions"]]

    assert titles == [created.json()["session_id"]]


def test_the_language_is_changed_through_the_profile_api() -> None:
    client = _register("bob")
    before = _send(client, SHORT_FRENCH)

    response = client.patch("/api/auth/me", {"search_language": "fr"}, format="json")
    after = _send(client, SHORT_FRENCH)

    assert response.status_code == 200
    assert response.json()["search_language"] == "fr"
    assert client.get("/api/auth/me").json()["search_language"] == "fr"
    assert _message_ids(client, "signal") == [after]
    assert before not in _message_ids(client, "signal")


def test_an_unsupported_language_is_a_400_with_a_message() -> None:
    client = _register("amelie", "fr")

    response = client.patch("/api/auth/me", {"search_language": "xx"}, format="json")

    assert response.status_code == 400
    message = response.json()["search_language"][0]
    assert "'xx' is not a supported search language" in message
    assert "use auto or one of en, fr, es, de, it, pt, nl" in message
    assert client.get("/api/auth/me").json()["search_language"] == "fr"


def test_changing_the_language_keeps_older_messages_found() -> None:
    client = _register("amelie", "fr")
    french = _send(client, SHORT_FRENCH)

    client.patch("/api/auth/me", {"search_language": "de"}, format="json")
    german = _send(client, "Kopfschmerzen")

    assert _message_ids(client, "signal") == [french]
    assert _message_ids(client, "Kopfschmerz") == [german]


def test_rebuild_search_restems_older_messages_in_the_users_language() -> None:
    client = _register("bob")
    older = _send(client, SHORT_FRENCH)
    client.patch("/api/auth/me", {"search_language": "fr"}, format="json")
    user_id = client.get("/api/auth/me").json()["id"]
    assert _message_ids(client, "signal") == []

    call_command("rebuild_search", "--user", str(user_id))

    assert _message_ids(client, "signal") == [older]
