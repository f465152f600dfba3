from django.apps import AppConfig


class ChatsConfig(AppConfig):
    name = "chats"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"

    def ready(self) -> None:
        from accounts.deletion import register_account_eraser
        from chats.services.erasure import erase_account

        register_account_eraser("chats", erase_account)
