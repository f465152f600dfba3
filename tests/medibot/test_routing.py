"""The router puts every model on its own database, proven against the real stores."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import connections, router

from chats import store
from chats.models import ChatSession

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def _sql_tables() -> set[str]:
    return set(connections["default"].introspection.table_names())


def _mongo_collections() -> set[str]:
    return set(store.database().list_collection_names())


def test_every_chat_model_is_a_mongodb_collection_and_no_sql_table() -> None:
    sql_tables, collections = _sql_tables(), _mongo_collections()
    chat_models = list(apps.get_app_config("chats").get_models())
    assert chat_models
    for model in chat_models:
        assert model._meta.db_table in collections, model
        assert model._meta.db_table not in sql_tables, model


def test_every_other_model_is_a_sql_table_and_no_mongodb_collection() -> None:
    sql_tables, collections = _sql_tables(), _mongo_collections()
    for model in apps.get_models():
        if model._meta.app_label == "chats" or not model._meta.managed:
            continue
        assert model._meta.db_table in sql_tables, model
        assert model._meta.db_table not in collections, model


def test_written_rows_land_on_their_database() -> None:
    user = get_user_model().objects.create_user(username="routed", password="x-very-long-pass")
    session = ChatSession.objects.create(user_id=user.pk, title="routed")
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT username FROM accounts_user WHERE id = %s", [user.pk])
        assert cursor.fetchone() == ("routed",)
    document = store.database()["chat_sessions"].find_one({"_id": session.pk})
    assert document is not None
    assert document["user_id"] == user.pk


def test_relations_across_databases_are_refused() -> None:
    user = get_user_model().objects.create_user(username="rel", password="x-very-long-pass")
    session = ChatSession.objects.create(user_id=user.pk)
    assert router.allow_relation(user, session) is False
    assert router.allow_relation(session, ChatSession(user_id=user.pk)) is True


def test_migrations_are_allowed_only_on_the_owning_database() -> None:
    assert router.allow_migrate("chats", "chats") is True
    assert router.allow_migrate("default", "chats") is False
    for label in ("accounts", "ehr", "auth", "admin", "contenttypes", "sessions", "django_celery_beat"):
        assert router.allow_migrate("default", label) is True
        assert router.allow_migrate("chats", label) is False
