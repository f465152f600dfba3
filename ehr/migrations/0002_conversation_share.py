"""Conversations a patient shares with their care team (issue 17)."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ehr", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConversationShare",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("session_id", models.CharField(max_length=64)),
                ("shared_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversation_shares",
                        to="ehr.patientprofile",
                    ),
                ),
            ],
            options={
                "ordering": ["-id"],
                "indexes": [models.Index(fields=["session_id"], name="share_session_idx")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("patient", "session_id"), name="uniq_share_per_conversation"
                    )
                ],
            },
        ),
    ]
