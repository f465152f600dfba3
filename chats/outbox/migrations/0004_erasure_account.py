from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats_outbox", "0003_erasure_crypto"),
    ]

    operations = [
        migrations.AddField(
            model_name="erasure",
            name="account_deleted",
            field=models.BooleanField(
                default=False,
                help_text="The erasure of a deleted account: every outbox entry of the user goes, whenever made.",
            ),
        ),
    ]
