"""The one Graph API call Medibot makes: send a text message (``POST /{phone-number-id}/messages``).

No SDK: this and the webhook parsing are all the channel needs, and retries belong to the Celery
task that records each accepted part (see README, "WhatsApp channel").
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from django.conf import settings


class SendError(Exception):
    """WhatsApp did not accept the message."""

    def __init__(self, reason: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


class TransientSendError(SendError):
    """429, 5xx, a timeout or a dropped connection: worth retrying later."""


class PermanentSendError(SendError):
    """Any other 4xx (bad token, bad number, outside the 24-hour window): retrying cannot help."""


@dataclass(frozen=True)
class Sent:
    wamid: str


def _error_code(response: httpx.Response) -> int | None:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def send_text(*, to: str, body: str, client: httpx.Client | None = None) -> Sent:
    """Send ``body`` to the E.164 number ``to``; the ``wamid`` WhatsApp assigned, or a SendError."""
    url = f"{settings.WHATSAPP_GRAPH_API_URL}/{settings.WHATSAPP_PHONE_NUMBER_ID}/messages"
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to.lstrip("+"),
        "type": "text",
        "text": {"preview_url": False, "body": body},
    }
    headers = {"Authorization": f"Bearer {settings.WHATSAPP_ACCESS_TOKEN}"}
    http = client or httpx.Client(timeout=settings.WHATSAPP_SEND_TIMEOUT_SECONDS)
    try:
        response = http.post(url, json=payload, headers=headers)
    except httpx.TimeoutException as exc:
        raise TransientSendError("timeout") from exc
    except httpx.TransportError as exc:
        raise TransientSendError("connection") from exc
    finally:
        if client is None:
            http.close()
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientSendError(
            f"http_{response.status_code}", status=response.status_code, code=_error_code(response)
        )
    if response.status_code >= 400:
        raise PermanentSendError(
            f"http_{response.status_code}", status=response.status_code, code=_error_code(response)
        )
    try:
        wamid = response.json()["messages"][0]["id"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise TransientSendError("malformed_response", status=response.status_code) from exc
    if not isinstance(wamid, str) or not wamid:
        raise TransientSendError("malformed_response", status=response.status_code)
    return Sent(wamid=wamid)
