from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit.services import ensure_chain_head_after_migrate

        post_migrate.connect(ensure_chain_head_after_migrate, sender=self, dispatch_uid="audit-chain-head")
