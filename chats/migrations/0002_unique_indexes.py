"""Full (non-partial) unique indexes that every equality query can use; see chats/models.py."""

from django.db import migrations

UNIQUE_INDEXES = {
    "chat_sessions": [("uniq_session_per_user", ["user_id", "session_id"])],
    "chat_messages": [
        ("uniq_message_order", ["user_id", "session_id", "order"]),
        ("uniq_message_id", ["user_id", "message_id"]),
    ],
    "chat_token_usage": [("uniq_usage_per_message", ["user_id", "message_id"])],
    "chat_message_votes": [("uniq_vote_per_user_message", ["user_id", "message_id"])],
}


def create_unique_indexes(apps, schema_editor):
    database = schema_editor.connection.database
    for collection, indexes in UNIQUE_INDEXES.items():
        for name, keys in indexes:
            database[collection].create_index([(key, 1) for key in keys], name=name, unique=True)


def drop_unique_indexes(apps, schema_editor):
    database = schema_editor.connection.database
    for collection, indexes in UNIQUE_INDEXES.items():
        for name, _keys in indexes:
            database[collection].drop_index(name)


class Migration(migrations.Migration):
    dependencies = [("chats", "0001_initial")]

    operations = [migrations.RunPython(create_unique_indexes, drop_unique_indexes)]
