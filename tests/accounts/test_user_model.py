"""The User model's own invariants: optional, unique, E.164 phone numbers and the patient default."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from accounts.models import User

pytestmark = pytest.mark.django_db

E164_MESSAGE = "Enter the phone number in international E.164 form, e.g. +4915112345678."


def _user(username: str, phone_number: str | None = None) -> User:
    return User.objects.create_user(
        username=username, password="correct-horse-battery-staple", phone_number=phone_number
    )


def _unsaved_user(phone_number: str) -> User:
    return User(username="unsaved", password="!unusable", phone_number=phone_number)


def test_role_defaults_to_patient() -> None:
    user = User.objects.create_user(username="fresh", password="correct-horse-battery-staple")

    user.refresh_from_db()
    assert user.role == User.Role.PATIENT


def test_phone_number_is_optional_and_stored_as_null() -> None:
    first, second = _user("first"), _user("second")

    assert User.objects.filter(pk__in=[first.pk, second.pk], phone_number__isnull=True).count() == 2


def test_same_phone_number_twice_is_an_integrity_error() -> None:
    _user("first", phone_number="+4915112345678")

    with pytest.raises(IntegrityError), transaction.atomic():
        _user("second", phone_number="+4915112345678")


def test_different_phone_numbers_can_coexist() -> None:
    _user("first", phone_number="+4915112345678")
    _user("second", phone_number="+4915112345679")

    assert User.objects.filter(phone_number__isnull=False).count() == 2


def test_valid_e164_phone_number_passes_full_clean() -> None:
    user = _unsaved_user(phone_number="+12025550123")

    user.full_clean()


@pytest.mark.parametrize("phone_number", ["015112345678", "+0151123456", "+49 151 1234567", "+49abc12345"])
def test_invalid_phone_number_is_rejected_by_full_clean_with_a_clear_message(phone_number: str) -> None:
    user = _unsaved_user(phone_number=phone_number)

    with pytest.raises(ValidationError) as excinfo:
        user.full_clean()

    assert excinfo.value.message_dict == {"phone_number": [E164_MESSAGE]}
