"""Routes of the WhatsApp channel; the project mounts them at the root."""

from __future__ import annotations

from django.urls import path

from whatsapp.api.views import WhatsAppWebhookView
from whatsapp.views import LinkWhatsAppPage

app_name = "whatsapp"

urlpatterns = [
    path("webhooks/whatsapp", WhatsAppWebhookView.as_view(), name="webhook"),
    path("whatsapp/link/", LinkWhatsAppPage.as_view(), name="link"),
]
