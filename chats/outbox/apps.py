from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OutboxConfig(AppConfig):
    name = "chats.outbox"
    label = "chats_outbox"
    verbose_name = "Chat outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from chats.outbox.schedules import ensure_schedules_after_migrate
        from chats.outbox.services import backlog_gauges
        from medibot.metrics import register_scrape_source

        register_scrape_source("outbox", backlog_gauges)
        post_migrate.connect(ensure_schedules_after_migrate, sender=self, dispatch_uid="chats-beat-schedules")
