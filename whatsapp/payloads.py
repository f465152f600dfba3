"""The Cloud API webhook payload, read defensively into the few fields Medibot uses.

Shape (``object: whatsapp_business_account``)::

    entry[].changes[] {field: "messages", value: {metadata: {phone_number_id, display_phone_number},
                      contacts[] {wa_id, profile.name}, messages[] {from, id, timestamp, type, text.body |
                      image/audio/video/document/sticker {id, mime_type, sha256, caption?, filename?} |
                      location {latitude, longitude, name?, address?}}, statuses[] {id, status, timestamp,
                      recipient_id, errors[] {code, title}}}}

Anything else (other fields, unknown message types, malformed items) is skipped, never an error:
Meta retries deliveries that are not answered 200.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
STATUS_NAMES = ("sent", "delivered", "read", "failed")


class MalformedPayload(ValueError):
    """Not a WhatsApp Business Account delivery at all."""


@dataclass(frozen=True)
class IncomingMessage:
    wamid: str
    phone_number_id: str
    sender: str
    kind: str  # "text", one of MEDIA_KINDS, "location", or an unsupported type's name
    text: str
    sent_at: datetime
    attachment: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    wamid: str
    status: str
    at: datetime
    error_code: int | None = None
    error_title: str = ""


@dataclass(frozen=True)
class Delivery:
    messages: list[IncomingMessage]
    statuses: list[StatusUpdate]
    skipped: int


def _text(value: Any, *, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _moment(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return timezone.now()


def _attachment(kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """Metadata only: the media id, type and size hints; location coordinates are not kept."""
    body = item.get(kind)
    if not isinstance(body, dict):
        return {"kind": kind}
    if kind == "location":
        return {"kind": kind}
    kept: dict[str, Any] = {"kind": kind}
    for key in ("id", "mime_type", "sha256", "filename"):
        value = body.get(key)
        if isinstance(value, str) and value:
            kept[key] = value[:255]
    if body.get("voice") is True:
        kept["voice"] = True
    return kept


def _message(item: Any, phone_number_id: str) -> IncomingMessage | None:
    if not isinstance(item, dict):
        return None
    wamid, sender, kind = item.get("id"), item.get("from"), item.get("type")
    if not (isinstance(wamid, str) and 0 < len(wamid) <= 255):
        return None
    if not (isinstance(sender, str) and isinstance(kind, str) and kind):
        return None
    text, attachment = "", {}
    if kind == "text":
        body = item.get("text")
        text = _text(body.get("body") if isinstance(body, dict) else None, limit=65_536)
        if not text.strip():
            return None
    elif kind in MEDIA_KINDS or kind == "location":
        attachment = _attachment(kind, item)
        caption = item.get(kind, {}).get("caption") if isinstance(item.get(kind), dict) else None
        text = _text(caption, limit=4_096)
    return IncomingMessage(
        wamid=wamid,
        phone_number_id=phone_number_id,
        sender=sender[:32],
        kind=kind[:32],
        text=text,
        sent_at=_moment(item.get("timestamp")),
        attachment=attachment,
    )


def _status(item: Any) -> StatusUpdate | None:
    if not isinstance(item, dict):
        return None
    wamid, status = item.get("id"), item.get("status")
    if not (isinstance(wamid, str) and 0 < len(wamid) <= 255 and status in STATUS_NAMES):
        return None
    code, title = None, ""
    errors = item.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        raw_code = errors[0].get("code")
        code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
        title = _text(errors[0].get("title"), limit=200)
    return StatusUpdate(
        wamid=wamid, status=status, at=_moment(item.get("timestamp")), error_code=code, error_title=title
    )


def _items(value: dict[str, Any], key: str) -> list[Any]:
    items = value.get(key)
    return items if isinstance(items, list) else []


def parse(document: Any) -> Delivery:
    """Messages and statuses of one delivery; raises MalformedPayload when it is not one at all."""
    if not isinstance(document, dict) or not isinstance(document.get("entry"), list):
        raise MalformedPayload("not a WhatsApp webhook delivery")
    messages: list[IncomingMessage] = []
    statuses: list[StatusUpdate] = []
    skipped = 0
    for entry in document["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            skipped += 1
            continue
        for change in changes:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict) or change.get("field") != "messages":
                skipped += 1
                continue
            metadata = value.get("metadata")
            phone_number_id = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
            if not isinstance(phone_number_id, str):
                skipped += 1
                continue
            for item in _items(value, "messages"):
                message = _message(item, phone_number_id[:64])
                if message is None:
                    skipped += 1
                else:
                    messages.append(message)
            for item in _items(value, "statuses"):
                update = _status(item)
                if update is None:
                    skipped += 1
                else:
                    statuses.append(update)
    return Delivery(messages=messages, statuses=statuses, skipped=skipped)
