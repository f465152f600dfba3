"""The auth API: registration, token login with failure throttling, logout, the caller's profile."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from accounts import selectors
from accounts.models import ApiToken, User
from tests.factories import token_for

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.accounts.urls_for_tests")]

PASSWORD = "correct-horse-battery-staple"
REGISTER_URL = "/api/auth/register"
TOKEN_URL = "/api/auth/token"
LOGOUT_URL = "/api/auth/logout"
ME_URL = "/api/auth/me"
BAD_CREDENTIALS = {"non_field_errors": ["Unable to log in with the given username and password."]}


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """The login throttle keeps its counters in the cache; no test may inherit another's."""
    cache.clear()
    yield
    cache.clear()


def _registration(**overrides: Any) -> dict[str, Any]:
    return {"username": "newpatient", "password": PASSWORD, "email": "new@example.test", **overrides}


def _login(client: APIClient, username: str, password: str, address: str = "203.0.113.7") -> Any:
    return client.post(TOKEN_URL, {"username": username, "password": password}, REMOTE_ADDR=address)


def _authenticated(token_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key}")
    return client


# --- routing ----------------------------------------------------------------------------------


def test_routes_are_named_in_the_accounts_namespace() -> None:
    assert [reverse(f"accounts:{name}") for name in ("register", "token", "logout", "me")] == [
        REGISTER_URL,
        TOKEN_URL,
        LOGOUT_URL,
        ME_URL,
    ]


# --- register ---------------------------------------------------------------------------------


def test_register_creates_an_account_and_returns_its_token(api_client: APIClient) -> None:
    response = api_client.post(REGISTER_URL, _registration(), format="json")

    assert response.status_code == 201
    user = User.objects.get(username="newpatient")
    token = response.json()["token"]
    assert response.json() == {"id": user.pk, "username": "newpatient", "token": token}
    assert list(ApiToken.objects.filter(user=user).values_list("digest", flat=True)) == [
        ApiToken.digest_of(token)
    ]
    assert user.email == "new@example.test"
    assert user.check_password(PASSWORD)


def test_registered_token_authenticates(api_client: APIClient) -> None:
    token = api_client.post(REGISTER_URL, _registration(), format="json").json()["token"]

    response = _authenticated(token).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["username"] == "newpatient"


def test_register_ignores_role_and_privilege_flags_in_the_body(api_client: APIClient) -> None:
    body = _registration(role="staff", is_staff=True, is_superuser=True, id=999_999)

    response = api_client.post(REGISTER_URL, body, format="json")

    assert response.status_code == 201
    user = User.objects.get(username="newpatient")
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.PATIENT, False, False)
    assert user.pk != 999_999


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("83749283749", "This password is entirely numeric."),
        ("newpatient1", "The password is too similar to the username."),
    ],
)
def test_register_applies_django_password_validators(
    api_client: APIClient, password: str, message: str
) -> None:
    response = api_client.post(REGISTER_URL, _registration(password=password), format="json")

    assert response.status_code == 400
    assert message in response.json()["password"]
    assert not User.objects.filter(username="newpatient").exists()


def test_register_with_a_taken_username_is_400(api_client: APIClient, user: User) -> None:
    response = api_client.post(REGISTER_URL, _registration(username=user.username), format="json")

    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


def test_register_with_a_taken_username_in_other_case_is_400(api_client: APIClient, user: User) -> None:
    response = api_client.post(REGISTER_URL, _registration(username=user.username.upper()), format="json")

    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}


@pytest.mark.parametrize("email", ["not-an-email", "a@", ""])
def test_register_rejects_an_invalid_email(api_client: APIClient, email: str) -> None:
    response = api_client.post(REGISTER_URL, _registration(email=email), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["email"]


def test_register_rejects_a_username_with_forbidden_characters(api_client: APIClient) -> None:
    response = api_client.post(REGISTER_URL, _registration(username="no spaces!"), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["username"]


def test_register_requires_every_field(api_client: APIClient) -> None:
    response = api_client.post(REGISTER_URL, {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "email": ["This field is required."],
        "password": ["This field is required."],
    }


def test_register_losing_a_race_for_the_username_is_400(
    api_client: APIClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unique index is the last word when a concurrent registration passed the same check."""
    monkeypatch.setattr(selectors, "username_is_taken", lambda *, username: False)

    response = api_client.post(REGISTER_URL, _registration(username=user.username), format="json")

    assert response.status_code == 400
    assert response.json() == {"username": ["A user with that username already exists."]}
    assert User.objects.filter(username=user.username).count() == 1


def test_register_leaves_no_account_when_the_token_cannot_be_issued(
    api_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: Any) -> ApiToken:
        raise RuntimeError("token store down")

    monkeypatch.setattr(ApiToken.objects, "create", refuse)

    with pytest.raises(RuntimeError, match="token store down"):
        api_client.post(REGISTER_URL, _registration(), format="json")

    assert not User.objects.filter(username="newpatient").exists()


def test_register_ignores_session_csrf(user: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post(REGISTER_URL, _registration(), format="json")

    assert response.status_code == 201


# --- token ------------------------------------------------------------------------------------


def test_token_for_valid_credentials(api_client: APIClient, user: User) -> None:
    response = _login(api_client, user.username, PASSWORD)

    assert response.status_code == 200
    assert list(response.json()) == ["token"]
    assert ApiToken.objects.get(user=user).digest == ApiToken.digest_of(response.json()["token"])


def test_every_login_issues_its_own_token(api_client: APIClient, user: User) -> None:
    first = _login(api_client, user.username, PASSWORD).json()["token"]
    second = _login(api_client, user.username, PASSWORD).json()["token"]

    assert first != second
    assert [_authenticated(key).get(ME_URL).status_code for key in (first, second)] == [200, 200]


def test_token_login_records_last_login(api_client: APIClient, user: User) -> None:
    _login(api_client, user.username, PASSWORD)

    user.refresh_from_db()
    assert user.last_login is not None


def test_wrong_password_is_400_with_a_clear_message(api_client: APIClient, user: User) -> None:
    response = _login(api_client, user.username, "wrong-password")

    assert response.status_code == 400
    assert response.json() == BAD_CREDENTIALS


def test_unknown_username_gets_the_same_message(api_client: APIClient) -> None:
    response = _login(api_client, "nobody", PASSWORD)

    assert response.status_code == 400
    assert response.json() == BAD_CREDENTIALS


def test_inactive_account_gets_no_token(api_client: APIClient) -> None:
    inactive = User.objects.create_user(username="dormant", password=PASSWORD, is_active=False)

    response = _login(api_client, inactive.username, PASSWORD)

    assert response.status_code == 400
    assert response.json() == BAD_CREDENTIALS
    assert not ApiToken.objects.filter(user=inactive).exists()


def test_token_requires_username_and_password(api_client: APIClient) -> None:
    response = api_client.post(TOKEN_URL, {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "username": ["This field is required."],
        "password": ["This field is required."],
    }


def test_sixth_failure_within_a_minute_is_429(api_client: APIClient, user: User) -> None:
    statuses = [_login(api_client, user.username, "wrong-password").status_code for _ in range(5)]

    response = _login(api_client, user.username, "wrong-password")

    assert statuses == [400] * 5
    assert response.status_code == 429
    assert response.json()["detail"].startswith(
        "Too many failed login attempts for this username from your address. Try again in "
    )
    assert 0 < int(response["Retry-After"]) <= 60


def test_throttled_client_is_refused_even_with_the_right_password(api_client: APIClient, user: User) -> None:
    for _ in range(5):
        _login(api_client, user.username, "wrong-password")

    response = _login(api_client, user.username, PASSWORD)

    assert response.status_code == 429
    assert not ApiToken.objects.filter(user=user).exists()


def test_successful_logins_are_not_counted(api_client: APIClient, user: User) -> None:
    successes = [_login(api_client, user.username, PASSWORD).status_code for _ in range(10)]
    failures = [_login(api_client, user.username, "wrong-password").status_code for _ in range(5)]

    assert successes == [200] * 10
    assert failures == [400] * 5


def test_a_success_between_failures_does_not_reset_the_count(api_client: APIClient, user: User) -> None:
    for _ in range(4):
        _login(api_client, user.username, "wrong-password")
    assert _login(api_client, user.username, PASSWORD).status_code == 200
    assert _login(api_client, user.username, "wrong-password").status_code == 400

    response = _login(api_client, user.username, "wrong-password")

    assert response.status_code == 429


def test_failures_for_one_username_do_not_throttle_another(
    api_client: APIClient, user: User, other_user: User
) -> None:
    for _ in range(5):
        _login(api_client, user.username, "wrong-password")

    response = _login(api_client, other_user.username, PASSWORD)

    assert response.status_code == 200


def test_failures_from_one_address_do_not_throttle_another(api_client: APIClient, user: User) -> None:
    for _ in range(5):
        _login(api_client, user.username, "wrong-password", address="203.0.113.7")

    response = _login(api_client, user.username, PASSWORD, address="198.51.100.23")

    assert response.status_code == 200


def test_username_case_variants_share_one_budget(api_client: APIClient, user: User) -> None:
    name = user.username
    for variant in [name, name.upper(), name.title(), name, name.upper()]:
        _login(api_client, variant, "wrong-password")

    response = _login(api_client, user.username, "wrong-password")

    assert response.status_code == 429


@override_settings(AUTH_LOGIN_FAILURE_RATE="2/min")
def test_failure_rate_comes_from_settings(api_client: APIClient, user: User) -> None:
    statuses = [_login(api_client, user.username, "wrong-password").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]


@override_settings(AUTH_LOGIN_FAILURE_RATE=None)
def test_failure_throttle_can_be_switched_off(api_client: APIClient, user: User) -> None:
    statuses = {_login(api_client, user.username, "wrong-password").status_code for _ in range(8)}

    assert statuses == {400}


def test_forged_forwarded_for_does_not_reset_the_budget_when_num_proxies_is_set(
    api_client: APIClient, user: User, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 0}
    for forged in range(5):
        api_client.post(
            TOKEN_URL,
            {"username": user.username, "password": "wrong-password"},
            REMOTE_ADDR="203.0.113.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{forged}",
        )

    response = api_client.post(
        TOKEN_URL,
        {"username": user.username, "password": "wrong-password"},
        REMOTE_ADDR="203.0.113.7",
        HTTP_X_FORWARDED_FOR="10.0.0.99",
    )

    assert response.status_code == 429


# --- logout -----------------------------------------------------------------------------------


def test_logout_revokes_the_token(user: User) -> None:
    key = token_for(user)
    client = _authenticated(key)

    response = client.post(LOGOUT_URL)

    assert response.status_code == 204
    assert not ApiToken.objects.filter(digest=ApiToken.digest_of(key)).exists()
    assert client.get(ME_URL).status_code == 401


def test_logout_ends_the_session(api_client: APIClient, user: User) -> None:
    api_client.force_login(user)
    assert api_client.get(ME_URL).status_code == 200

    response = api_client.post(LOGOUT_URL)

    assert response.status_code == 204
    assert api_client.get(ME_URL).status_code == 401


def test_a_new_login_after_logout_issues_a_new_token(api_client: APIClient, user: User) -> None:
    old = _login(api_client, user.username, PASSWORD).json()["token"]
    _authenticated(old).post(LOGOUT_URL)

    new = _login(api_client, user.username, PASSWORD).json()["token"]

    assert new != old
    assert _authenticated(new).get(ME_URL).status_code == 200


def test_anonymous_logout_is_401_with_a_token_challenge(api_client: APIClient) -> None:
    response = api_client.post(LOGOUT_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# --- me ---------------------------------------------------------------------------------------


def test_me_returns_the_callers_account(user: User) -> None:
    user.phone_number = "+4915112345678"
    user.save(update_fields=["phone_number"])
    client = _authenticated(token_for(user))

    response = client.get(ME_URL)

    assert response.status_code == 200
    assert response.json() == {
        "id": user.pk,
        "username": user.username,
        "email": user.email,
        "role": "patient",
        "phone_number": "+4915112345678",
        "is_staff": False,
        "date_joined": response.json()["date_joined"],
        "search_language": "auto",
    }
    assert response.json()["date_joined"].startswith(user.date_joined.strftime("%Y-%m-%dT%H:%M:%S"))


def test_anonymous_me_is_401_with_a_token_challenge(api_client: APIClient) -> None:
    response = api_client.get(ME_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_me_with_an_unknown_token_is_401() -> None:
    response = _authenticated("0" * 40).get(ME_URL)

    assert response.status_code == 401


def test_me_ignores_role_and_privilege_flags_in_a_patch(user: User) -> None:
    client = _authenticated(token_for(user))

    response = client.patch(ME_URL, {"role": "staff", "is_staff": True, "is_superuser": True}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.role, user.is_staff, user.is_superuser) == (User.Role.PATIENT, False, False)


# --- OpenAPI ----------------------------------------------------------------------------------


@pytest.fixture
def schema() -> dict[str, Any]:
    generated: dict[str, Any] = SchemaGenerator().get_schema(request=None, public=True)
    return generated


def _ref(schema: dict[str, Any], path: str, status: str | None = None) -> str:
    operation = schema["paths"][path]["post" if path != ME_URL else "get"]
    content = operation["responses"][status]["content"] if status else operation["requestBody"]["content"]
    ref: str = content["application/json"]["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


def test_schema_is_valid_openapi(schema: dict[str, Any]) -> None:
    validate_schema(schema)


def test_schema_names_every_request_and_response(schema: dict[str, Any]) -> None:
    assert _ref(schema, REGISTER_URL) == "RegisterInput"
    assert _ref(schema, REGISTER_URL, "201") == "RegisterOutput"
    assert _ref(schema, TOKEN_URL) == "TokenInput"
    assert _ref(schema, TOKEN_URL, "200") == "TokenOutput"
    assert _ref(schema, TOKEN_URL, "429") == "Detail"
    assert _ref(schema, ME_URL, "200") == "User"
    assert set(schema["paths"][LOGOUT_URL]["post"]["responses"]) == {"204", "401"}
    assert "requestBody" not in schema["paths"][LOGOUT_URL]["post"]


def test_schema_shows_exact_fields(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]

    assert set(components["RegisterInput"]["properties"]) == {"username", "email", "password"}
    assert set(components["RegisterOutput"]["properties"]) == {"id", "username", "token"}
    assert set(components["User"]["properties"]) == {
        "id",
        "username",
        "email",
        "role",
        "phone_number",
        "is_staff",
        "date_joined",
        "search_language",
    }
    assert set(components["User"]["required"]) == set(components["User"]["properties"])
    assert set(components["PatchedMeInput"]["properties"]) == {"search_language"}


def test_schema_marks_register_and_token_as_public(schema: dict[str, Any]) -> None:
    assert schema["paths"][REGISTER_URL]["post"]["security"] == [{}]
    assert schema["paths"][TOKEN_URL]["post"]["security"] == [{}]
    assert schema["paths"][ME_URL]["get"]["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
    assert schema["paths"][LOGOUT_URL]["post"]["security"] == [{"tokenAuth": []}, {"cookieAuth": []}]
