"""The owner's vote kept on the message (``ChatMessage.vote``), filled from the stored votes."""

from typing import Any

from django.db import migrations, models

from medibot.mongodb.shard_guard import unscoped


def copy_votes_to_messages(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "mongodb":
        return
    database = schema_editor.connection.database
    messages = database["chat_messages"]
    with unscoped("migration: every stored vote, streamed"):
        for vote in database["chat_message_votes"].find({}, {"user_id": 1, "message_id": 1, "vote_type": 1}):
            messages.update_one(
                {"_id": vote["message_id"], "user_id": vote["user_id"]}, {"$set": {"vote": vote["vote_type"]}}
            )


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0005_import_run_models"),
    ]

    operations = [
        migrations.AddField(
            model_name="chatmessage",
            name="vote",
            field=models.CharField(blank=True, default="", max_length=8),
        ),
        migrations.RunPython(copy_votes_to_messages, migrations.RunPython.noop),
    ]
