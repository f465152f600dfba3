from django.apps import AppConfig
from django.db.models.signals import post_migrate


class WhatsAppConfig(AppConfig):
    name = "whatsapp"
    verbose_name = "WhatsApp channel"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from whatsapp.schedules import ensure_schedule_after_migrate

        post_migrate.connect(
            ensure_schedule_after_migrate, sender=self, dispatch_uid="whatsapp-beat-schedule"
        )
