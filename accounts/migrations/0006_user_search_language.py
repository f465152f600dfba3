"""Each user's search language (issue 19): existing accounts keep today's per-message detection."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("accounts", "0005_staff_groups_admin_pages")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="search_language",
            field=models.CharField(
                choices=[
                    ("auto", "Detect per message"),
                    ("en", "English"),
                    ("fr", "French"),
                    ("es", "Spanish"),
                    ("de", "German"),
                    ("it", "Italian"),
                    ("pt", "Portuguese"),
                    ("nl", "Dutch"),
                ],
                default="auto",
                max_length=8,
            ),
        ),
    ]
