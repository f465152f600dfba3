"""Search postings and the per-user vocabulary (issue 19).

The old ``message_search_idx`` (user_id, search_terms) gives way to ``message_postings_idx``
(user_id, search_postings): as many index entries per message, in buckets a page can stop at.
The postings and the vocabulary of existing messages are filled by ``manage.py rebuild_search``
(resumable, with progress), not here: a large collection would hold the migration for hours.
"""

import django_mongodb_backend.fields
from django.db import migrations, models

UNIQUE_INDEXES = {"chat_search_terms": [("uniq_search_term", ["user_id", "key"])]}


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
    dependencies = [("chats", "0008_message_stop")]

    operations = [
        migrations.AddField(
            model_name="chatmessage",
            name="search_postings",
            field=django_mongodb_backend.fields.ArrayField(
                base_field=models.CharField(max_length=80), blank=True, default=list, editable=False
            ),
        ),
        migrations.RemoveIndex(model_name="chatmessage", name="message_search_idx"),
        migrations.AddIndex(
            model_name="chatmessage",
            index=models.Index(fields=["user_id", "search_postings"], name="message_postings_idx"),
        ),
        migrations.CreateModel(
            name="SearchTerm",
            fields=[
                (
                    "id",
                    django_mongodb_backend.fields.ObjectIdAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("user_id", models.BigIntegerField()),
                ("key", models.CharField(blank=True, max_length=80)),
                ("counts", models.JSONField(blank=True, default=dict)),
                ("pending", models.JSONField(blank=True, default=list)),
                (
                    "prefix_keys",
                    django_mongodb_backend.fields.ArrayField(
                        base_field=models.CharField(max_length=80), blank=True, default=list
                    ),
                ),
                (
                    "typo_keys",
                    django_mongodb_backend.fields.ArrayField(
                        base_field=models.CharField(max_length=80), blank=True, default=list
                    ),
                ),
            ],
            options={
                "db_table": "chat_search_terms",
                "ordering": ["user_id", "key"],
                "indexes": [
                    models.Index(fields=["user_id", "prefix_keys"], name="search_term_prefix_idx"),
                    models.Index(fields=["user_id", "typo_keys"], name="search_term_typo_idx"),
                ],
            },
        ),
        migrations.RunPython(create_unique_indexes, drop_unique_indexes),
    ]
