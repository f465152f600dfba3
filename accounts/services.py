"""Writes of the accounts app: demo accounts, registration, API tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts import selectors
from accounts.models import User

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
def register_user(*, username: str, password: str, email: str) -> tuple[User, Token]:
    """A new patient account and its API token, both or neither.

    The password must pass ``AUTH_PASSWORD_VALIDATORS``; the role is always patient and the
    account never staff or superuser, whatever the caller asked for. Raises
    ``RegistrationRejected`` with per-field messages.
    """
    errors: dict[str, list[str]] = {}
    if selectors.username_is_taken(username=username):
        errors["username"] = [USERNAME_TAKEN_MESSAGE]
    try:
        password_validation.validate_password(password, user=User(username=username, email=email))
    except DjangoValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise RegistrationRejected(errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                username=username, email=email, password=password, role=User.Role.PATIENT
            )
    except IntegrityError as exc:  # a concurrent registration won the race for the username
        raise RegistrationRejected({"username": [USERNAME_TAKEN_MESSAGE]}) from exc
    token = Token.objects.create(user=user)
    return user, token


def obtain_token(*, username: str, password: str) -> Token:
    """The API token of the account these credentials prove, created on first use.

    Records ``last_login``. Raises ``InvalidCredentials`` for any failure, never saying which part
    was wrong.
    """
    user = authenticate(username=username, password=password)
    if user is None:
        raise InvalidCredentials
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    token, _ = Token.objects.get_or_create(user=user)
    return token


def revoke_token(*, token: Token) -> None:
    """Delete an API token; requests carrying it are unauthenticated from now on."""
    token.delete()
