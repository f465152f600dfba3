from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chats_outbox", "0002_erasures"),
    ]

    operations = [
        migrations.AddField(
            model_name="erasure",
            name="shredded_key_ids",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The patient's destroyed data keys (crypto-shredding), as hex ids.",
            ),
        ),
        migrations.AddField(
            model_name="erasure",
            name="key_shredded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
