"""factory-boy factories for test data."""

from __future__ import annotations

from typing import cast

import factory
from django.contrib.auth import get_user_model

from accounts.models import User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.test")
    password = factory.django.Password("correct-horse-battery-staple")


def make_user(**fields: object) -> User:
    """A saved user (typed for mypy; factory-boy's calls are untyped)."""
    return cast(User, UserFactory(**fields))


def token_for(user: User) -> str:
    """A fresh API token key for ``user`` (the database keeps only its digest)."""
    from accounts.services import issue_token

    return issue_token(user=user).key


def make_staff(
    *, username: str = "sam-staff", groups: tuple[str, ...] = ("Support", "Privacy officer"), **fields: object
) -> User:
    """A staff account in the given staff groups (created when a flush removed them)."""
    from accounts.services import ensure_staff_groups

    user = make_user(username=username, is_staff=True, **{"role": User.Role.STAFF, **fields})
    available = ensure_staff_groups()
    user.groups.set([available[name] for name in groups])
    return user
