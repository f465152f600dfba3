"""Fixtures of the chat API tests: users on MySQL, chats on MongoDB."""

from __future__ import annotations

from typing import cast

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.chats.importer_support import empty_migration_collections
from tests.factories import UserFactory, make_staff


@pytest.fixture
def patient(db: None) -> User:
    return cast(User, UserFactory(username="alice"))


@pytest.fixture
def intruder(db: None) -> User:
    return cast(User, UserFactory(username="mallory"))


@pytest.fixture
def staff(db: None) -> User:
    return make_staff(username="sam-staff")


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def alice(patient: User) -> APIClient:
    return client_for(patient)


@pytest.fixture
def mallory(intruder: User) -> APIClient:
    return client_for(intruder)


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    return client_for(staff)


@pytest.fixture
def fresh_migration_collections() -> None:
    """For the ``migrate_chats`` tests (``pytest.mark.usefixtures``): no run, lock or quarantine
    entry of an earlier test is left, since no flush empties those collections."""
    empty_migration_collections()
