from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats_outbox", "0004_erasure_account"),
    ]

    operations = [
        migrations.AddField(
            model_name="erasure",
            name="rechecked_at",
            field=models.DateTimeField(
                blank=True,
                help_text=(
                    "Account erasures: when the second pass ran, once every request of the account that was"
                    " in flight at the deletion had ended (CHAT_ACCOUNT_ERASURE_RECHECK_SECONDS later)."
                ),
                null=True,
            ),
        ),
    ]
