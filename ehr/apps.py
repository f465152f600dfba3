from django.apps import AppConfig


class EhrConfig(AppConfig):
    name = "ehr"
    verbose_name = "Electronic health records"
    default_auto_field = "django.db.models.BigAutoField"
