"""Writes of the accounts app: demo accounts, registration, API tokens, the search language."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import languages, selectors
from accounts.models import ApiToken, User
from accounts.permissions import GROUP_ADMIN_PAGES, GROUP_PERMISSIONS, PERMISSIONS

DEMO_ACCOUNTS = (
    ("demo-admin", User.Role.STAFF),
    ("demo-clinician", User.Role.CLINICIAN),
    ("demo-patient", User.Role.PATIENT),
)

USERNAME_TAKEN_MESSAGE = "A user with that username already exists."
INVALID_CREDENTIALS_MESSAGE = "Unable to log in with the given username and password."


class RegistrationRejected(Exception):
    """Registration refused; ``errors`` maps each offending field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


class InvalidCredentials(Exception):
    """Unknown username, wrong password or inactive account (deliberately indistinguishable)."""

    def __init__(self) -> None:
        super().__init__(INVALID_CREDENTIALS_MESSAGE)


@dataclass(frozen=True)
class IssuedToken:
    """A freshly issued token: ``key`` exists only here, the database keeps its digest."""

    key: str
    token: ApiToken


def issue_token(*, user: User) -> IssuedToken:
    """A new API token for ``user``, expiring after ``AUTH_TOKEN_TTL_HOURS`` (0 = never)."""
    key = secrets.token_hex(20)
    ttl_hours = settings.AUTH_TOKEN_TTL_HOURS
    token = ApiToken.objects.create(
        digest=ApiToken.digest_of(key),
        user=user,
        password_fingerprint=user.get_session_auth_hash(),
        expires_at=timezone.now() + timedelta(hours=ttl_hours) if ttl_hours else None,
    )
    return IssuedToken(key=key, token=token)


@transaction.atomic
def ensure_demo_accounts(*, password: str) -> list[User]:
    """The demo staff (superuser), clinician and patient, with the given password."""
    accounts = []
    for username, role in DEMO_ACCOUNTS:
        user, _ = User.objects.get_or_create(username=username, defaults={"role": role})
        user.role = role
        user.is_staff = user.is_superuser = role == User.Role.STAFF
        user.set_password(password)
        user.save()
        accounts.append(user)
    return accounts


@transaction.atomic
def register_user(
    *, username: str, password: str, email: str, search_language: str = languages.AUTO
) -> tuple[User, IssuedToken]:
    """A new patient account and its API token, both or neither.

    The password must pass ``AUTH_PASSWORD_VALIDATORS``; the role is always patient and the
    account never staff or superuser, whatever the caller asked for. ``search_language``: the
    views pass the one the request's ``Accept-Language`` prefers (``languages.from_accept_language``).
    Raises ``RegistrationRejected`` with per-field messages.
    """
    errors: dict[str, list[str]] = {}
    if selectors.username_is_taken(username=username):
        errors["username"] = [USERNAME_TAKEN_MESSAGE]
    try:
        password_validation.validate_password(password, user=User(username=username, email=email))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if search_language != languages.AUTO and search_language not in languages.SEARCH_LANGUAGES:
        errors["search_language"] = [languages.unsupported_message(search_language)]
    if errors:
        raise RegistrationRejected(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username,
                email=email,
                password=password,
                role=User.Role.PATIENT,
                search_language=search_language,
            )
    except IntegrityError as exc:  # a concurrent registration won the race for the username
        raise RegistrationRejected({"username": [USERNAME_TAKEN_MESSAGE]}) from exc
    return user, issue_token(user=user)


class UnsupportedSearchLanguage(Exception):
    def __init__(self, value: object) -> None:
        super().__init__(languages.unsupported_message(value))


def set_search_language(*, user: User, language: str) -> User:
    """Stem ``user``'s chats in ``language`` from now on (``auto``: detect per message). Messages
    stored before keep their terms: the query side stems in every language, so they are still
    found; ``manage.py rebuild_search`` re-stems them. Raises ``UnsupportedSearchLanguage``."""
    if language != languages.AUTO and language not in languages.SEARCH_LANGUAGES:
        raise UnsupportedSearchLanguage(language)
    user.search_language = language
    user.save(update_fields=["search_language"])
    return user


def obtain_token(*, username: str, password: str) -> IssuedToken:
    """A new API token for the account these credentials prove (one per login, revoked alone).

    Records ``last_login``. Raises ``InvalidCredentials`` for any failure, never saying which part
    was wrong.
    """
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return issue_token(user=user)


def revoke_token(*, token: ApiToken) -> None:
    """Delete an API token; requests carrying it are unauthenticated from now on."""
    ApiToken.objects.filter(pk=token.pk).delete()


def revoke_all_tokens(*, user_id: int) -> int:
    """Delete every API token of a user (password change, deactivation); returns how many."""
    deleted, _ = ApiToken.objects.filter(user_id=user_id).delete()
    return deleted


@transaction.atomic
def ensure_staff_groups() -> dict[str, Group]:
    """The "Support" and "Privacy officer" groups with exactly their permissions (idempotent).

    The data migration creates them on ``migrate``; this restores them after a flush (tests) or a
    manual edit (``seed_demo``).
    """
    user_type = ContentType.objects.get_for_model(User)
    names = dict(PERMISSIONS)
    groups = {}
    for group_name, codenames in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        admin_pages = Q(pk__in=[])
        for permission in GROUP_ADMIN_PAGES[group_name]:
            app_label, _, codename = permission.partition(".")
            admin_pages |= Q(content_type__app_label=app_label, codename=codename)
        group.permissions.set(
            [
                Permission.objects.get_or_create(
                    content_type=user_type, codename=codename, defaults={"name": names[codename]}
                )[0]
                for codename in codenames
            ]
            + list(Permission.objects.filter(admin_pages))
        )
        groups[group_name] = group
    return groups
