"""Webhook deliveries shaped like the Cloud API's (``object: whatsapp_business_account``), signed
like Meta signs them. Shapes follow Meta's webhook reference for messages, statuses and media."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from whatsapp.signatures import sign

APP_SECRET = "test-app-secret"  # nosec B105 - test-only
VERIFY_TOKEN = "test-verify-token"  # nosec B105 - test-only
ACCESS_TOKEN = "test-access-token"  # nosec B105 - test-only
PHONE_NUMBER_ID = "106540352242922"
DISPLAY_NUMBER = "15550783881"
BUSINESS_ACCOUNT_ID = "102290129340398"

_numbers = itertools.count(1)


def new_wamid() -> str:
    return f"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA{next(_numbers):06d}="


def envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": BUSINESS_ACCOUNT_ID,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": DISPLAY_NUMBER,
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def message(
    sender: str, kind: str = "text", *, wamid: str | None = None, at: int | None = None, **body: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "from": sender,
        "id": wamid or new_wamid(),
        "timestamp": str(at or int(time.time())),
        "type": kind,
    }
    item[kind] = body
    return item


def messages(*items: dict[str, Any], name: str = "Pat Ient") -> dict[str, Any]:
    """A delivery of one or more messages (from the first item's sender)."""
    return envelope(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": items[0]["from"]}],
            "messages": list(items),
        }
    )


def text(sender: str, body: str, *, wamid: str | None = None, at: int | None = None) -> dict[str, Any]:
    return messages(message(sender, "text", wamid=wamid, at=at, body=body))


def image(sender: str, *, caption: str = "") -> dict[str, Any]:
    body: dict[str, Any] = {
        "mime_type": "image/jpeg",
        "sha256": "IRR2fTXJ3HZa6uI6LcqU8VV1WdAhnPBkR0P8WqYLKYk=",
        "id": "1003383421387256",
    }
    if caption:
        body["caption"] = caption
    return messages(message(sender, "image", **body))


def voice_note(sender: str) -> dict[str, Any]:
    return messages(
        message(sender, "audio", mime_type="audio/ogg; codecs=opus", sha256="x", id="2", voice=True)
    )


def document(sender: str) -> dict[str, Any]:
    return messages(
        message(sender, "document", mime_type="application/pdf", sha256="y", id="3", filename="lab.pdf")
    )


def location(sender: str) -> dict[str, Any]:
    return messages(message(sender, "location", latitude=52.52, longitude=13.405, name="Clinic"))


def status(wamid: str, state: str, recipient: str, *, error_code: int | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": wamid,
        "status": state,
        "timestamp": str(int(time.time())),
        "recipient_id": recipient,
    }
    if state in ("sent", "delivered"):
        item["conversation"] = {"id": "CONVERSATION_ID", "origin": {"type": "service"}}
        item["pricing"] = {"billable": False, "pricing_model": "PMP", "category": "service"}
    if error_code is not None:
        item["errors"] = [
            {
                "code": error_code,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }
        ]
    return envelope({"statuses": [item]})


def signed(document: dict[str, Any] | bytes, *, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    """The raw body and the headers Meta sends with it."""
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return body, {"X-Hub-Signature-256": sign(body, secret=secret)}
