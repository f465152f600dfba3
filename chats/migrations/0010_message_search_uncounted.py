"""Deferred vocabulary counts (issue 19): the live append path marks a message ``search_uncounted``
until its terms are counted, and ``message_uncounted_idx`` finds the marked messages.

The index is partial (only marked messages have an entry, so it stays as small as the backlog and
costs nothing on imported messages) and made here through pymongo: ``(user_id, search_uncounted)``
with the filter ``{search_uncounted: true}``, which serves both the per-user read and (hinted) the
sweep across users, on MongoDB and SecantusDB alike.
"""

from django.db import migrations, models

INDEX_NAME = "message_uncounted_idx"


def create_index(apps, schema_editor):
    schema_editor.connection.database["chat_messages"].create_index(
        [("user_id", 1), ("search_uncounted", 1)],
        name=INDEX_NAME,
        partialFilterExpression={"search_uncounted": True},
    )


def drop_index(apps, schema_editor):
    schema_editor.connection.database["chat_messages"].drop_index(INDEX_NAME)


class Migration(migrations.Migration):
    dependencies = [("chats", "0009_search")]

    operations = [
        migrations.AddField(
            model_name="chatmessage",
            name="search_uncounted",
            field=models.BooleanField(default=None, editable=False, null=True),
        ),
        migrations.RunPython(create_index, drop_index),
    ]
