"""Meta's webhook: signed by Meta, no user, no CSRF; the only HTTP entry of inbound WhatsApp traffic."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from whatsapp import payloads, services, signatures, tasks

logger = logging.getLogger(__name__)


def _error(status_code: int, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status_code)


def _hand_over(received: services.Received) -> None:
    for inbound_id in received.inbound_ids:
        tasks.enqueue_inbound(inbound_id)
    tasks.enqueue_statuses(received.statuses)


@method_decorator(csrf_exempt, name="dispatch")
class WhatsAppWebhookView(View):
    """``GET``: Meta's subscription handshake. ``POST``: a signed delivery, recorded and handed to
    Celery; 200 within milliseconds, or a 4xx for what is not a valid delivery (never a 500)."""

    http_method_names = ["get", "post"]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.WHATSAPP_APP_SECRET:
            return _error(404, "The WhatsApp channel is not enabled.")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        token = request.GET.get("hub.verify_token", "")
        expected = settings.WHATSAPP_VERIFY_TOKEN
        if (
            request.GET.get("hub.mode") == "subscribe"
            and expected
            and hmac.compare_digest(token.encode(), expected.encode())
        ):
            return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
        return _error(403, "Verification failed.")

    def post(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error(400, "Invalid Content-Length.")
        if length > settings.WHATSAPP_MAX_BODY_BYTES:
            return _error(413, "The delivery is too large.")
        body = request.body
        if not signatures.is_valid(
            body, request.headers.get("X-Hub-Signature-256"), secret=settings.WHATSAPP_APP_SECRET
        ):
            return _error(403, "Invalid signature.")
        try:
            delivery = payloads.parse(json.loads(body))
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _error(400, "Not a WhatsApp webhook delivery.")
        received = services.receive_delivery(delivery=delivery)
        transaction.on_commit(lambda: _hand_over(received))
        if received.duplicates or received.ignored:
            logger.info(
                "whatsapp delivery partly ignored",
                extra={"duplicates": received.duplicates, "ignored": received.ignored},
            )
        return JsonResponse(
            {
                "received": len(received.inbound_ids),
                "duplicates": received.duplicates,
                "statuses": len(received.statuses),
                "ignored": received.ignored,
            }
        )
