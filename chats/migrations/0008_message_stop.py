"""A streamed reply the patient stopped is stored with status ``stopped`` (issue 17)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0007_branches"),
    ]

    operations = [
        migrations.AlterField(
            model_name="chatmessage",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "Pending"),
                    ("completed", "Completed"),
                    ("failed", "Failed"),
                    ("stopped", "Stopped"),
                ],
                default="completed",
                max_length=16,
            ),
        ),
    ]
