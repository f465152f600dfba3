"""Indexes of the collections behind ``manage.py migrate_chats`` (no Django models: pymongo)."""

from django.db import migrations

INDEXES = {
    "migration_runs": [("run_source_started", [("source_ref", 1), ("started_at", -1)])],
    "migration_run_items": [("run_item_batch", [("run_id", 1), ("batch", 1)])],
    "migration_quarantine": [
        ("quarantine_run", [("run_id", 1)]),
        ("quarantine_first_run", [("first_run_id", 1)]),
    ],
}


def create_indexes(apps, schema_editor):
    database = schema_editor.connection.database
    for collection, indexes in INDEXES.items():
        for name, keys in indexes:
            database[collection].create_index(keys, name=name)


def drop_indexes(apps, schema_editor):
    database = schema_editor.connection.database
    for collection in INDEXES:
        database[collection].drop()
    database["migration_locks"].drop()


class Migration(migrations.Migration):
    dependencies = [("chats", "0002_unique_indexes")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]
