"""Who may call which route: every URL pattern of the project is classified here, and each class is
checked against every method its view answers.

- public: anyone (sign-in, registration, token, health, schema and docs);
- owner object: Alice's session, message, vote, export or EHR entry; anyone else gets 404 and
  Alice's stored data stays exactly as it was;
- owner collection: the caller's own things; Bob sees only Bob's and changes only Bob's;
- staff: 403 for authenticated non-staff users;
- admin: the Django admin site (by namespace); anonymous and non-staff users are sent to its login.

Anonymous callers get 401 on every API route that is not public. A route added without a class
here fails ``test_every_route_is_classified_exactly_once``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from chats.services import sharing
from tests.security.conftest import (
    RECORD_MODELS,
    SHARED_WORD,
    World,
    body_of,
    client_for,
    leaked,
    stored_state,
)
from tests.security.routes import Route, all_routes

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

PUBLIC = "public"
OWNER_OBJECT = "owner object"
OWNER_COLLECTION = "owner collection"
STAFF = "staff"
ADMIN = "admin"
METRICS_TOKEN = "metrics token or network"  # tests/medibot/test_metrics.py
CARE_TEAM = "care team"  # a conversation Alice shared: her assigned clinician reads it, nobody else

EHR_BODIES: dict[str, dict[str, Any]] = {
    "allergies": {"substance": "Intrudermycin", "reaction": "pwned"},
    "medications": {"name": "Pwnazole", "dose": "1 mg", "frequency": "daily", "start_date": "2024-01-01"},
    "conditions": {"icd10_code": "E11.9", "description": "pwned"},
    "encounters": {"date": "2024-01-01", "type": "outpatient", "notes": "pwned"},
    "observations": {"code": "8867-4", "value": "80", "unit": "/min", "taken_at": "2024-01-01T00:00:00Z"},
}

ACCESS: dict[str, str] = {
    # public
    "api/schema/": PUBLIC,
    "api/docs/": PUBLIC,
    "api/redoc/": PUBLIC,
    # Prometheus scrapes: METRICS_TOKEN or METRICS_ALLOWED_IPS, never a user session
    "metrics": METRICS_TOKEN,
    "api/auth/register": PUBLIC,
    "api/auth/token": PUBLIC,
    "api/chat/health": PUBLIC,
    "login/": PUBLIC,
    "register/": PUBLIC,
    "logout/": PUBLIC,
    "admin/login/": PUBLIC,
    "webhooks/whatsapp": PUBLIC,  # signed by Meta (403 unsigned); 404 while the channel is off
    # the caller's own account, chats, record and access log
    "": OWNER_COLLECTION,
    "api/auth/logout": OWNER_COLLECTION,
    "api/auth/me": OWNER_COLLECTION,
    "api/auth/account/delete": OWNER_COLLECTION,
    "api/ehr/me": OWNER_COLLECTION,
    "api/ehr/patients/": OWNER_COLLECTION,
    "api/audit/me": OWNER_COLLECTION,
    "api/chat-history": OWNER_COLLECTION,
    "api/chat-history/clear-all": OWNER_COLLECTION,
    "api/conversations": OWNER_COLLECTION,
    "api/chat/sessions": OWNER_COLLECTION,
    "api/chat/search": OWNER_COLLECTION,
    "api/chat/export": OWNER_COLLECTION,
    "api/chat/token-usage": OWNER_COLLECTION,
    "api/chat/shared": OWNER_COLLECTION,
    "api/chat/exports": OWNER_COLLECTION,
    "api/chat/imports": OWNER_COLLECTION,
    "api/chat/imports/sources": OWNER_COLLECTION,
    "whatsapp/link/": OWNER_COLLECTION,
    # one owner's object
    "api/chat": OWNER_OBJECT,
    "api/chat/send": OWNER_OBJECT,
    "api/conversation/<str:session_id>": OWNER_OBJECT,
    "api/conversation/<str:session_id>/messages": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/full": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/messages": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/restore": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/permanent": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/statistics": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/export": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/token-usage": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/stop": OWNER_OBJECT,
    "api/chat/sessions/<str:session_id>/share": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/vote": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/regenerate": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/edit": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/siblings": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/children": OWNER_OBJECT,
    "api/chat/messages/<str:message_id>/activate": OWNER_OBJECT,
    "api/chat/transfers/<str:transfer_id>": OWNER_OBJECT,
    "api/chat/transfers/<str:transfer_id>/cancel": OWNER_OBJECT,
    "api/chat/transfers/<str:transfer_id>/download": OWNER_OBJECT,
    "api/chat/erasures/<int:erasure_id>": OWNER_OBJECT,
    "c/<str:session_id>": OWNER_OBJECT,
    "api/ehr/patients/<int:patient_id>/": OWNER_OBJECT,
    **{f"api/ehr/me/{kind}/": OWNER_COLLECTION for kind in RECORD_MODELS},
    **{f"api/ehr/patients/<int:patient_id>/{kind}/": OWNER_OBJECT for kind in RECORD_MODELS},
    **{f"api/ehr/patients/<int:patient_id>/{kind}/<int:record_id>/": OWNER_OBJECT for kind in RECORD_MODELS},
    # a conversation shared with the care team
    "api/chat/shared/<str:session_id>": CARE_TEAM,
    "api/chat/shared/<str:session_id>/messages": CARE_TEAM,
    "shared/<str:session_id>": CARE_TEAM,
    # staff
    "api/chat/statistics/global": STAFF,
    "api/chat/cleanup": STAFF,
    "api/admin/users": STAFF,
    "api/admin/users/<int:user_id>/conversations": STAFF,
    "api/admin/stats": STAFF,
    "api/admin/latest-chats": STAFF,
    "api/chat/sync": STAFF,
    "api/chat/sync/<str:task_id>": STAFF,
}

# Bodies of the writes an intruder tries on Alice's objects (GET, HEAD and DELETE send none).
OBJECT_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("api/chat", "post"): {"message": "intruder says hi", "conversation_id": "{session_id}"},
    ("api/chat/send", "post"): {"message": "intruder says hi", "session_id": "{session_id}"},
    ("api/conversation/<str:session_id>", "put"): {"title": "pwned", "is_archived": True},
    ("api/conversation/<str:session_id>", "patch"): {"title": "pwned", "is_pinned": True},
    ("api/chat/sessions/<str:session_id>", "put"): {"title": "pwned", "is_archived": True},
    ("api/chat/sessions/<str:session_id>", "patch"): {"title": "pwned", "tags": ["pwned"]},
    ("api/chat/sessions/<str:session_id>/restore", "post"): {},
    ("api/chat/sessions/<str:session_id>/stop", "post"): {},
    ("api/chat/sessions/<str:session_id>/share", "post"): {},
    ("api/chat/messages/<str:message_id>/vote", "post"): {"vote_type": "down", "reason": "pwned"},
    ("api/chat/messages/<str:message_id>/regenerate", "post"): {},
    ("api/chat/messages/<str:message_id>/edit", "post"): {"message": "pwned"},
    ("api/chat/messages/<str:message_id>/activate", "post"): {},
    ("api/chat/transfers/<str:transfer_id>/cancel", "post"): {},
    ("api/ehr/patients/<int:patient_id>/", "patch"): {"blood_type": "AB-", "sex": "male"},
    **{(f"api/ehr/patients/<int:patient_id>/{kind}/", "post"): body for kind, body in EHR_BODIES.items()},
    **{
        (f"api/ehr/patients/<int:patient_id>/{kind}/<int:record_id>/", method): body
        for kind, body in EHR_BODIES.items()
        for method in ("put", "patch")
    },
}

# Sent as a multipart upload (an empty ChatGPT export) instead of JSON.
UPLOAD: dict[str, Any] = {"file": "[]"}

# What Bob sends to his own collection routes: (query string, body, text that must be in the answer).
COLLECTION_CASES: dict[tuple[str, str], tuple[str, dict[str, Any] | None, str]] = {
    ("", "get"): ("", None, "bob"),
    ("api/auth/logout", "post"): ("", None, ""),
    ("api/auth/me", "get"): ("", None, '"username":"bob"'),
    ("api/auth/me", "patch"): ("", {"search_language": "fr"}, '"search_language":"fr"'),
    # Bob deletes his own account (tests.factories' password); Alice's data stays as it was
    ("api/auth/account/delete", "post"): ("", {"password": "correct-horse-battery-staple"}, '"deleted":true'),
    ("api/ehr/me", "get"): ("", None, "MRN-"),
    ("api/ehr/patients/", "get"): ("", None, '"username":"bob"'),
    ("api/audit/me", "get"): ("", None, "results"),
    ("api/chat-history", "get"): ("", None, "bobsleigh"),
    ("api/chat-history/clear-all", "delete"): ("", None, '"messages":2'),
    ("api/conversations", "get"): ("", None, "bob knee"),
    ("api/conversations", "post"): ("", {"title": "bob new", "session_id": "{session_id}"}, "bob new"),
    ("api/chat/sessions", "get"): ("", None, "bob knee"),
    ("api/chat/sessions", "post"): ("", {"title": "bob new", "session_id": "{session_id}"}, "bob new"),
    ("api/chat/search", "get"): (f"?q={SHARED_WORD}", None, "bobsleigh"),
    ("api/chat/export", "get"): ("", None, "bobsleigh"),
    ("api/chat/token-usage", "get"): ("", None, '"total_tokens":18'),
    ("api/chat/shared", "get"): ("", None, '"results":[]'),
    ("api/chat/exports", "post"): ("", {}, "transfer_id"),
    ("api/chat/imports", "post"): ("", UPLOAD, "transfer_id"),
    ("api/chat/imports/sources", "get"): ("", None, "chatgpt"),
    ("whatsapp/link/", "get"): ("", None, "Link your WhatsApp number"),
    ("whatsapp/link/", "post"): ("", {"code": "ABCD-2345"}, "unknown, already used or expired"),
    **{(f"api/ehr/me/{kind}/", "get"): ("", None, "results") for kind in RECORD_MODELS},
}

STAFF_CASES: dict[tuple[str, str], str] = {
    ("api/chat/statistics/global", "get"): "",
    ("api/chat/cleanup", "post"): "?days_old=0&dry_run=true",
    ("api/admin/users", "get"): "",
    ("api/admin/users/<int:user_id>/conversations", "get"): "",
    ("api/admin/stats", "get"): "",
    ("api/admin/latest-chats", "get"): "",
    ("api/chat/sync", "post"): "",
    ("api/chat/sync/<str:task_id>", "get"): "",
}

ADMIN_REGEX_URLS = {
    "app_index": "/admin/chats/",
    "catch_all_view": "/admin/no/such/page/",
}


def routes() -> list[Route]:
    return all_routes()


def access_of(route: Route) -> str | None:
    if route.namespace == "admin" and route.pattern not in ACCESS:
        return ADMIN
    return ACCESS.get(route.pattern)


def routes_of(kind: str) -> list[Route]:
    return [route for route in routes() if access_of(route) == kind]


def request(client: Any, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, body, format="json")


def filled(body: dict[str, Any], values: dict[str, object]) -> dict[str, Any]:
    return {key: value.format(**values) if isinstance(value, str) else value for key, value in body.items()}


def object_values(world: World, route: Route) -> dict[str, object]:
    values = world.path_values()
    for kind, record in world.records.items():
        if f"/{kind}/" in route.pattern:
            values["record_id"] = record.pk
    return values


def signed_in(user: User, route: Route) -> Any:
    """An API client authenticated as ``user``, or a browser with their session for a web page."""
    if route.is_api:
        return client_for(user)
    browser = Client()
    browser.force_login(user)
    return browser


def intruders(world: World) -> list[User]:
    """Another patient, and a clinician who is not Alice's."""
    return [world.bob, world.outsider_clinician]


# --- the table is complete -------------------------------------------------------------------------


def test_every_route_is_classified_exactly_once() -> None:
    found = routes()
    unclassified = sorted(route.pattern for route in found if access_of(route) is None)
    stale = sorted(set(ACCESS) - {route.pattern for route in found})
    doubled = sorted(
        route.pattern
        for route in found
        if route.namespace == "admin" and ACCESS.get(route.pattern, PUBLIC) != PUBLIC
    )
    assert not unclassified, (
        "routes without an access class: add each to ACCESS in tests/security/test_access_matrix.py "
        f"(public, owner object with a cross-user case, owner collection, staff): {unclassified}"
    )
    assert not stale, f"ACCESS names routes that no longer exist: {stale}"
    assert not doubled, f"admin routes are classified by their namespace, not in ACCESS: {doubled}"


def test_every_write_on_an_owner_object_has_an_intruders_body() -> None:
    missing = [
        (route.pattern, method)
        for route in routes_of(OWNER_OBJECT)
        for method in route.methods
        if method in ("post", "put", "patch") and (route.pattern, method) not in OBJECT_BODIES
    ]
    assert not missing, f"add the body an intruder sends to OBJECT_BODIES: {missing}"


def test_every_method_of_an_owner_collection_or_staff_route_has_a_case() -> None:
    missing = [
        (route.pattern, method)
        for route in routes_of(OWNER_COLLECTION)
        for method in route.methods
        if method != "head" and (route.pattern, method) not in COLLECTION_CASES
    ] + [
        (route.pattern, method)
        for route in routes_of(STAFF)
        for method in route.methods
        if method != "head" and (route.pattern, method) not in STAFF_CASES
    ]
    assert not missing, f"add a case to COLLECTION_CASES or STAFF_CASES: {missing}"


# --- anonymous ---------------------------------------------------------------------------------------


def test_anonymous_gets_401_on_every_api_route_that_is_not_public(world: World) -> None:
    anonymous = APIClient()
    wrong = []
    for route in routes():
        if not route.is_api or access_of(route) == PUBLIC:
            continue
        for method in [*route.methods, "options"]:
            response = request(anonymous, method, route.url(object_values(world, route)))
            if response.status_code != 401 or "WWW-Authenticate" not in response:
                wrong.append((method.upper(), route.pattern, response.status_code))
    assert not wrong, f"anonymous requests that were not 401 with a challenge: {wrong}"


def test_anonymous_is_sent_to_sign_in_from_every_web_page_that_is_not_public() -> None:
    pages = [r for r in routes() if not r.is_api and access_of(r) not in (PUBLIC, ADMIN, METRICS_TOKEN)]
    assert pages
    for route in pages:
        response = Client().get(route.url())
        assert response.status_code == 302, route.pattern
        assert response["Location"].startswith("/login/"), route.pattern


def test_public_routes_answer_anonymous_callers(world: World) -> None:
    anonymous = Client()
    refused = []
    for route in routes_of(PUBLIC):
        for method in route.methods:
            response = getattr(anonymous, method)(route.url())
            if response.status_code in (401, 403) or response.status_code >= 500:
                refused.append((method.upper(), route.pattern, response.status_code))
    assert not refused, refused


# --- owner objects: someone else's is a 404 and stays as it was ------------------------------------------


@pytest.mark.parametrize("pattern", sorted(p for p, kind in ACCESS.items() if kind == OWNER_OBJECT))
def test_someone_elses_object_is_404_for_every_method_and_stays_unchanged(world: World, pattern: str) -> None:
    route = next(route for route in routes() if route.pattern == pattern)
    values = object_values(world, route)
    before = stored_state(world)
    answers = []
    for intruder in intruders(world):
        for method in route.methods:
            body = OBJECT_BODIES.get((pattern, method))
            response = request(
                signed_in(intruder, route),
                method,
                route.url(values),
                filled(body, values) if body is not None else None,
            )
            answers.append(
                (
                    intruder.username,
                    method.upper(),
                    response.status_code,
                    leaked(response, world.alice_markers),
                )
            )
    assert all(status == 404 and not leaks for _, _, status, leaks in answers), answers
    assert stored_state(world) == before
    if "get" in route.methods:
        assert signed_in(world.alice, route).get(route.url(values)).status_code == 200, (
            "the case must name Alice's object"
        )


# --- owner collections: Bob sees and changes only Bob's ----------------------------------------------------


@pytest.mark.parametrize("pattern", sorted(p for p, kind in ACCESS.items() if kind == OWNER_COLLECTION))
def test_collections_show_and_change_only_the_callers_own(
    world: World, pattern: str, settings: Any, tmp_path: Any
) -> None:
    settings.CHAT_TRANSFER_DIR = str(tmp_path / "transfers")
    route = next(route for route in routes() if route.pattern == pattern)
    before = stored_state(world)
    for method in route.methods:
        if method == "head":
            continue
        query, body, expected = COLLECTION_CASES[(pattern, method)]
        client = signed_in(world.bob, route)
        sent = filled(body, world.path_values()) if body is not None else None
        if body is UPLOAD:
            upload = SimpleUploadedFile("conversations.json", UPLOAD["file"].encode(), "application/json")
            response = client.post(route.url() + query, {"file": upload}, format="multipart")
            # no task left behind: the queued import is cancelled, so no later worker runs it
            client.post(response.json()["cancel_url"])
        else:
            response = request(client, method, route.url() + query, sent)
        assert response.status_code < 300, (method, pattern, response.status_code, body_of(response)[:300])
        echoed = json.dumps(sent)  # Bob may reuse Alice's public session id for his own session
        assert not leaked(response, [m for m in world.alice_markers if m not in echoed]), (method, pattern)
        assert expected in body_of(response).decode().replace(": ", ":"), (method, pattern)
    assert stored_state(world) == before


# --- staff routes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", sorted(p for p, kind in ACCESS.items() if kind == STAFF))
def test_staff_routes_are_403_for_everyone_but_staff(world: World, pattern: str) -> None:
    route = next(route for route in routes() if route.pattern == pattern)
    url = route.url(world.path_values())
    before = stored_state(world)
    for user in (world.alice, world.bob, world.clinician):
        for method in route.methods:
            query = STAFF_CASES.get((pattern, method), "")
            response = request(client_for(user), method, url + query)
            assert response.status_code == 403, (user.username, method, pattern, response.status_code)
            assert not leaked(response, world.alice_markers)
    assert stored_state(world) == before
    if "get" in route.methods:
        assert request(client_for(world.staff), "get", url + STAFF_CASES[(pattern, "get")]).status_code == 200


# --- the Django admin --------------------------------------------------------------------------------------


def admin_url(world: World, route: Route) -> str:
    for name, url in ADMIN_REGEX_URLS.items():
        if getattr(route.callback, "__name__", "") == name:
            return url
    ids = {
        "chats/chatsession/": world.session.pk,
        "chats/chatmessage/": world.answer.pk,
        "ehr/patientprofile/": world.profile.pk,
        "accounts/user/": world.alice.pk,
    }
    object_id = next((value for prefix, value in ids.items() if prefix in route.pattern), 1)
    return route.url({"object_id": object_id, "id": world.alice.pk, "content_type_id": 1})


def admin_attempts(world: World, client: Client) -> list[tuple[str, str, int, str]]:
    hostile = {"post": "yes", "title": "pwned", "action": "delete_selected", "_selected_action": ["1"]}
    wrong = []
    for route in routes_of(ADMIN):
        url = admin_url(world, route)
        for method in ("get", "post"):
            response = client.get(url) if method == "get" else client.post(url, hostile)
            target = "/admin/" if route.pattern == "admin/logout/" else "/admin/login/"
            location = response.get("Location", "")
            if (
                response.status_code != 302
                or not location.startswith(target)
                or leaked(response, world.alice_markers)
            ):
                wrong.append((method.upper(), url, response.status_code, location))
    return wrong


def test_admin_sends_anonymous_visitors_to_its_login(world: World) -> None:
    before = stored_state(world)
    assert admin_attempts(world, Client()) == []
    assert stored_state(world) == before


@pytest.mark.parametrize("who", ["alice", "bob", "clinician"])
def test_admin_refuses_signed_in_users_who_are_not_staff(world: World, who: str) -> None:
    client = Client()
    client.force_login(getattr(world, who))
    before = stored_state(world)
    assert admin_attempts(world, client) == []
    assert stored_state(world) == before


def test_admin_opens_for_staff(world: World) -> None:
    superuser = User.objects.create_superuser("root-sec", "root@example.test", "x-unused-9f8e")
    client = Client()
    client.force_login(superuser)
    assert client.get(f"/admin/chats/chatsession/{world.session.pk}/change/").status_code == 200


# --- a conversation shared with the care team ------------------------------------------------------------


@pytest.mark.parametrize("pattern", sorted(p for p, kind in ACCESS.items() if kind == CARE_TEAM))
def test_a_shared_conversation_is_404_to_everyone_but_the_assigned_clinician(
    world: World, pattern: str
) -> None:
    route = next(route for route in routes() if route.pattern == pattern)
    url = route.url(object_values(world, route))
    assert signed_in(world.clinician, route).get(url).status_code == 404, "not shared yet"

    sharing.share_session(user=world.alice, session_id=world.session.session_id)

    others = [world.alice, *intruders(world), world.staff]
    answers = [(user.username, signed_in(user, route).get(url).status_code) for user in others]
    assert all(status == 404 for _, status in answers), answers
    assert signed_in(world.clinician, route).get(url).status_code == 200
