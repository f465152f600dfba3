"""Branches (edit, regenerate): ``ChatMessage.branch`` (0 for every existing message), the session's
``active_branch`` (0) and fork table (empty), and the unique order index keyed by branch too."""

from typing import Any

from django.db import migrations, models

from medibot.mongodb.shard_guard import unscoped

OLD_INDEX = ("uniq_message_order", ["user_id", "session_id", "order"])
NEW_INDEX = ("uniq_message_branch_order", ["user_id", "session_id", "branch", "order"])


def _swap(schema_editor: Any, drop: tuple[str, list[str]], create: tuple[str, list[str]]) -> None:
    messages = schema_editor.connection.database["chat_messages"]
    messages.create_index([(key, 1) for key in create[1]], name=create[0], unique=True)
    if drop[0] in messages.index_information():
        messages.drop_index(drop[0])


def backfill_and_swap_index(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mongodb":
        return
    database = schema_editor.connection.database
    with unscoped("migration: every message and session without branch fields"):
        database["chat_messages"].update_many({"branch": {"$exists": False}}, {"$set": {"branch": 0}})
        database["chat_sessions"].update_many(
            {"active_branch": {"$exists": False}}, {"$set": {"active_branch": 0}}
        )
        database["chat_sessions"].update_many({"branches": {"$exists": False}}, {"$set": {"branches": []}})
    _swap(schema_editor, OLD_INDEX, NEW_INDEX)


def restore_index(apps: Any, schema_editor: Any) -> None:
    """Back to one line per session: only possible while no session has forks (the old unique
    index would refuse two messages at one order)."""
    if schema_editor.connection.vendor != "mongodb":
        return
    _swap(schema_editor, NEW_INDEX, OLD_INDEX)


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0006_message_vote"),
    ]

    operations = [
        migrations.AddField(
            model_name="chatmessage",
            name="branch",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="chatsession",
            name="active_branch",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="chatsession",
            name="branches",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AlterModelOptions(
            name="chatmessage",
            options={"ordering": ["session_id", "branch", "order"]},
        ),
        migrations.RunPython(backfill_and_swap_index, restore_index),
    ]
