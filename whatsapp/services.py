"""Every write of the WhatsApp channel: receiving deliveries, taking turns, sending replies,
delivery statuses, opt-out and number linking. Arguments are keyword-only; logs carry ids only."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from pymongo.errors import PyMongoError

from chats import selectors as chat_selectors
from chats import services as chat_services
from chats.exceptions import InvalidChatInput, MessageNotFound, ReplyFailed
from chats.importers.users import accounts_for_phones
from chats.models import Channel
from whatsapp import formatting, graph, payloads, phones, texts
from whatsapp.chat_turn import TextOnlyResponder, take_turn
from whatsapp.exceptions import InvalidLinkCode, StorageNotReady
from whatsapp.models import Contact, InboundMessage, LinkCode, OutboundPart, OutboundReply

logger = logging.getLogger(__name__)

INBOUND_LEASE = timedelta(minutes=5)
SEND_LEASE = timedelta(minutes=2)
CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)
MAX_SEND_ATTEMPTS = 12
STORED_KINDS = (*payloads.MEDIA_KINDS, "location", "contacts")
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8


# --- receiving (the webhook) ---------------------------------------------------------------------------


@dataclass
class Received:
    """What one webhook delivery added: new inbound rows (to process), duplicates, statuses."""

    inbound_ids: list[int] = field(default_factory=list)
    duplicates: int = 0
    ignored: int = 0
    statuses: list[payloads.StatusUpdate] = field(default_factory=list)


def receive_delivery(*, delivery: payloads.Delivery) -> Received:
    """Record each new ``wamid`` once (a unique index: Meta's retries and racing workers insert
    nothing); nothing else happens in the request, the worker does the rest."""
    received = Received(ignored=delivery.skipped, statuses=list(delivery.statuses))
    ours = settings.WHATSAPP_PHONE_NUMBER_ID
    for message in delivery.messages:
        if ours and message.phone_number_id != ours:
            received.ignored += 1
            continue
        try:
            with transaction.atomic():
                row = InboundMessage.objects.create(
                    wamid=message.wamid,
                    phone_number_id=message.phone_number_id,
                    sender=message.sender,
                    kind=message.kind,
                    text=message.text,
                    attachment=message.attachment,
                    sent_at=message.sent_at,
                )
        except IntegrityError:
            received.duplicates += 1
            continue
        received.inbound_ids.append(row.pk)
    return received


# --- processing one inbound message (worker) -----------------------------------------------------------


def _claim_inbound(inbound_id: int) -> InboundMessage | None:
    now = timezone.now()
    claimed = (
        InboundMessage.objects.filter(pk=inbound_id)
        .filter(
            Q(state=InboundMessage.State.RECEIVED)
            | Q(state=InboundMessage.State.PROCESSING, claimed_until__lt=now)
        )
        .update(state=InboundMessage.State.PROCESSING, claimed_until=now + INBOUND_LEASE)
    )
    return InboundMessage.objects.get(pk=inbound_id) if claimed else None


def _finish_inbound(inbound: InboundMessage, *, state: str, outcome: str) -> str:
    inbound.state = state
    inbound.outcome = outcome
    inbound.text = ""
    inbound.claimed_until = None
    inbound.processed_at = timezone.now()
    inbound.save(
        update_fields=[
            "state",
            "outcome",
            "text",
            "claimed_until",
            "processed_at",
            "user_id",
            "session_id",
            "user_message_id",
        ]
    )
    logger.info("whatsapp message processed", extra={"inbound_id": inbound.pk, "outcome": outcome})
    return outcome


def _contact_for(phone: str) -> tuple[Contact, bool]:
    """The number's contact, created with its account (matched by phone, or new with an unusable
    password as the importer does); True when this number writes for the first time."""
    contact = Contact.objects.filter(phone_number=phone).first()
    if contact is not None:
        return contact, False
    ids, _ = accounts_for_phones({phone: ""}, create=True)
    try:
        with transaction.atomic():
            return Contact.objects.create(phone_number=phone, user_id=ids[phone]), True
    except IntegrityError:
        return Contact.objects.get(phone_number=phone), False


def handle_inbound(*, inbound_id: int) -> str:
    """Process one received message exactly once (a claim on its row); returns the outcome.

    An error releases the claim so the task's retry (or ``resume_pending``) can take it again."""
    inbound = _claim_inbound(inbound_id)
    if inbound is None:
        return "already_claimed"
    try:
        return _process(inbound)
    except Exception:
        InboundMessage.objects.filter(pk=inbound.pk, state=InboundMessage.State.PROCESSING).update(
            state=InboundMessage.State.RECEIVED, claimed_until=None
        )
        raise


def _process(inbound: InboundMessage) -> str:
    phone = phones.to_e164(inbound.sender)
    if phone is None:
        return _finish_inbound(inbound, state=InboundMessage.State.IGNORED, outcome="bad_phone_number")
    contact, first_time = _contact_for(phone)
    inbound.user_id = contact.user_id
    Contact.objects.filter(pk=contact.pk).filter(
        Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=inbound.sent_at)
    ).update(last_inbound_at=inbound.sent_at)
    contact.refresh_from_db()
    if first_time and not contact.user.has_usable_password():
        _queue_reply(
            contact=contact,
            key=f"{inbound.wamid}:welcome",
            kind=OutboundReply.Kind.WELCOME,
            text=texts.WELCOME,
        )
    command = inbound.text.strip().lower() if inbound.kind == "text" else ""
    if command in texts.STOP_WORDS:
        return _opt_out(inbound, contact)
    if command in texts.START_WORDS:
        return _opt_in(inbound, contact)
    if contact.opted_out:
        return _finish_inbound(inbound, state=InboundMessage.State.IGNORED, outcome="opted_out")
    if command in texts.LINK_WORDS:
        return _send_link_code(inbound, contact)
    if inbound.kind == "text":
        return _converse(inbound, contact, text=inbound.text)
    if inbound.kind in STORED_KINDS:
        label = f"[{inbound.kind}]" + (f" {inbound.text}" if inbound.text.strip() else "")
        return _converse(inbound, contact, text=label, media=True)
    return _finish_inbound(inbound, state=InboundMessage.State.IGNORED, outcome="unsupported_type")


def _opt_out(inbound: InboundMessage, contact: Contact) -> str:
    if not contact.opted_out:
        Contact.objects.filter(pk=contact.pk).update(opted_out=True, opted_out_at=timezone.now())
        contact.refresh_from_db()
        _queue_reply(
            contact=contact,
            key=f"{inbound.wamid}:stopped",
            kind=OutboundReply.Kind.OPT_OUT,
            text=texts.STOPPED,
        )
    logger.info("whatsapp number opted out", extra={"contact_id": contact.pk})
    return _finish_inbound(inbound, state=InboundMessage.State.DONE, outcome="opted_out_now")


def _opt_in(inbound: InboundMessage, contact: Contact) -> str:
    Contact.objects.filter(pk=contact.pk).update(opted_out=False, opted_in_at=timezone.now())
    contact.refresh_from_db()
    _queue_reply(
        contact=contact, key=f"{inbound.wamid}:started", kind=OutboundReply.Kind.NOTICE, text=texts.STARTED
    )
    logger.info("whatsapp number opted in", extra={"contact_id": contact.pk})
    return _finish_inbound(inbound, state=InboundMessage.State.DONE, outcome="opted_in")


def _session_to_continue(contact: Contact, inbound: InboundMessage) -> str | None:
    gap = timedelta(minutes=settings.WHATSAPP_SESSION_GAP_MINUTES)
    if contact.session_id and contact.session_last_at and inbound.sent_at - contact.session_last_at <= gap:
        return contact.session_id
    return None


def _converse(inbound: InboundMessage, contact: Contact, *, text: str, media: bool = False) -> str:
    try:
        turn = take_turn(
            user_id=contact.user_id,
            text=text,
            session_id=_session_to_continue(contact, inbound),
            responder=TextOnlyResponder() if media else None,
        )
    except ReplyFailed as failure:
        inbound.session_id = str(failure.extra.get("session_id", ""))
        inbound.user_message_id = str(failure.extra.get("user_message_id", ""))
        _remember_session(contact, inbound.session_id, inbound.sent_at)
        _queue_reply(
            contact=contact,
            key=f"{inbound.wamid}:not-answered",
            kind=OutboundReply.Kind.NOTICE,
            text=texts.NOT_ANSWERED,
            message_id=str(failure.extra.get("assistant_message_id", "")),
        )
        return _finish_inbound(inbound, state=InboundMessage.State.DONE, outcome="reply_failed")
    except InvalidChatInput:
        return _finish_inbound(inbound, state=InboundMessage.State.IGNORED, outcome="invalid_text")
    inbound.session_id = turn.session.session_id
    inbound.user_message_id = turn.user_message.message_id
    _remember_session(contact, turn.session.session_id, inbound.sent_at)
    if media and not turn.queued:
        _store_attachment(contact.user_id, turn.user_message.message_id, inbound.attachment)
    if turn.queued:
        _queue_reply(
            contact=contact,
            key=f"{inbound.wamid}:received",
            kind=OutboundReply.Kind.RECEIVED,
            text=texts.RECEIVED,
        )
    _queue_reply(
        contact=contact,
        key=turn.assistant_message.message_id,
        kind=OutboundReply.Kind.ANSWER,
        text=turn.assistant_message.content,
        message_id=turn.assistant_message.message_id,
        awaiting_storage=turn.queued,
    )
    return _finish_inbound(
        inbound, state=InboundMessage.State.DONE, outcome="queued" if turn.queued else "answered"
    )


def _remember_session(contact: Contact, session_id: str, at: datetime) -> None:
    if session_id:
        Contact.objects.filter(pk=contact.pk).update(session_id=session_id, session_last_at=at)


def _store_attachment(user_id: int, message_id: str, attachment: dict[str, object]) -> None:
    try:
        chat_services.set_message_attachments(
            user_id=user_id, message_id=message_id, attachments=[attachment]
        )
    except PyMongoError as exc:
        logger.warning(
            "whatsapp attachment metadata not stored",
            extra={"message_id": message_id, "error": type(exc).__name__},
        )


# --- link codes ----------------------------------------------------------------------------------------


def _code_hash(code: str) -> str:
    normalised = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normalised.encode()).hexdigest()


def _send_link_code(inbound: InboundMessage, contact: Contact) -> str:
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    LinkCode.objects.create(
        contact=contact,
        code_hash=_code_hash(code),
        expires_at=timezone.now() + timedelta(minutes=settings.WHATSAPP_LINK_CODE_MINUTES),
    )
    shown = f"{code[:4]}-{code[4:]}"
    _queue_reply(
        contact=contact,
        key=f"{inbound.wamid}:link-code",
        kind=OutboundReply.Kind.NOTICE,
        text=texts.LINK_CODE.format(code=shown, minutes=settings.WHATSAPP_LINK_CODE_MINUTES),
    )
    return _finish_inbound(inbound, state=InboundMessage.State.DONE, outcome="link_code_sent")


def link_number(*, user_id: int, code: str) -> Contact:
    """Move the WhatsApp number the code was sent to onto ``user_id``'s account (it proves the
    caller holds the phone). Its next conversations belong to that account; earlier ones stay
    where they are. Raises InvalidLinkCode for an unknown, used or expired code."""
    if not isinstance(code, str) or not 4 <= len(code) <= 32:
        raise InvalidLinkCode()
    User = get_user_model()
    now = timezone.now()
    with transaction.atomic():
        link = (
            LinkCode.objects.select_for_update()
            .select_related("contact")
            .filter(code_hash=_code_hash(code), used_at__isnull=True, expires_at__gt=now)
            .first()
        )
        if link is None:
            raise InvalidLinkCode()
        contact = link.contact
        User.objects.filter(phone_number=contact.phone_number).exclude(pk=user_id).update(phone_number=None)
        User.objects.filter(pk=user_id).update(phone_number=contact.phone_number)
        contact.user_id = user_id
        contact.session_id = ""
        contact.session_last_at = None
        contact.save(update_fields=["user", "session_id", "session_last_at"])
        LinkCode.objects.filter(pk=link.pk).update(used_at=now, used_by_id=user_id)
    logger.info("whatsapp number linked", extra={"contact_id": contact.pk, "user_id": user_id})
    return contact


# --- sending (worker) ----------------------------------------------------------------------------------


def _queue_reply(
    *,
    contact: Contact,
    key: str,
    kind: str,
    text: str,
    message_id: str = "",
    awaiting_storage: bool = False,
) -> OutboundReply:
    """A reply to send, once per key; the send task is enqueued after the row is committed."""
    reply, created = OutboundReply.objects.get_or_create(
        reply_key=key,
        defaults={
            "contact": contact,
            "user_id": contact.user_id,
            "kind": kind,
            "text": text,
            "message_id": message_id,
            "state": OutboundReply.State.AWAITING_STORAGE
            if awaiting_storage
            else OutboundReply.State.PENDING,
        },
    )
    if created:
        from whatsapp import tasks

        transaction.on_commit(lambda: tasks.enqueue_send(reply.pk))
    return reply


def send_reply(*, reply_id: int) -> str:
    """Send one reply (split into parts), resuming after the last part WhatsApp accepted.

    Raises TransientSendError (the task retries with backoff) or StorageNotReady; a 4xx marks the
    reply failed. A task run twice, or two workers, never send a part twice: a lease on the row
    admits one sender and each accepted part is recorded before the next is sent."""
    now = timezone.now()
    claimed = (
        OutboundReply.objects.filter(
            pk=reply_id, state__in=[OutboundReply.State.PENDING, OutboundReply.State.AWAITING_STORAGE]
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + SEND_LEASE)
    )
    if not claimed:
        return "not_claimed"
    reply = OutboundReply.objects.select_related("contact").get(pk=reply_id)
    try:
        return _deliver(reply)
    finally:
        OutboundReply.objects.filter(pk=reply_id).update(claimed_until=None)


def _deliver(reply: OutboundReply) -> str:
    if reply.state == OutboundReply.State.AWAITING_STORAGE:
        if not _stored(reply):
            raise StorageNotReady()
        reply.state = OutboundReply.State.PENDING
        reply.save(update_fields=["state"])
    contact = reply.contact
    if contact.opted_out and reply.kind != OutboundReply.Kind.OPT_OUT:
        return _not_sent(reply, reason="opted_out")
    if contact.last_inbound_at is None or timezone.now() - contact.last_inbound_at > CUSTOMER_SERVICE_WINDOW:
        return _not_sent(reply, reason="outside_24h_window")
    if reply.attempts >= MAX_SEND_ATTEMPTS:
        return _failed(reply, reason="too_many_attempts")
    OutboundReply.objects.filter(pk=reply.pk).update(attempts=F("attempts") + 1)
    parts = formatting.split(formatting.to_whatsapp(reply.text)) or [reply.text]
    if reply.parts_total != len(parts):
        reply.parts_total = len(parts)
        reply.save(update_fields=["parts_total"])
    with httpx.Client(timeout=settings.WHATSAPP_SEND_TIMEOUT_SECONDS) as client:
        for index in range(reply.parts_sent, len(parts)):
            try:
                sent = graph.send_text(to=contact.phone_number, body=parts[index], client=client)
            except graph.PermanentSendError as error:
                return _failed(reply, reason=error.reason, code=error.code)
            except graph.TransientSendError as error:
                OutboundReply.objects.filter(pk=reply.pk).update(last_error=error.reason)
                logger.warning(
                    "whatsapp send will be retried", extra={"reply_id": reply.pk, "reason": error.reason}
                )
                raise
            with transaction.atomic():
                OutboundPart.objects.create(reply=reply, index=index, wamid=sent.wamid)
                reply.parts_sent = index + 1
                reply.save(update_fields=["parts_sent"])
    wamids = list(reply.parts.order_by("index").values_list("wamid", flat=True))
    reply.state = OutboundReply.State.SENT
    reply.text = ""
    reply.sent_at = timezone.now()
    reply.last_error = ""
    reply.save(update_fields=["state", "text", "sent_at", "last_error"])
    _record_status(reply, status="accepted", at=reply.sent_at, outbound_ids=wamids)
    logger.info(
        "whatsapp reply sent",
        extra={"reply_id": reply.pk, "message_id": reply.message_id, "parts": len(wamids)},
    )
    return "sent"


def _stored(reply: OutboundReply) -> bool:
    """The reply's assistant message is in the chat store (the outbox delivered it)."""
    try:
        chat_selectors.get_message(user_id=reply.user_id, message_id=reply.message_id)
    except MessageNotFound:
        return False
    except PyMongoError:
        return False
    return True


def _not_sent(reply: OutboundReply, *, reason: str) -> str:
    OutboundReply.objects.filter(pk=reply.pk).update(
        state=OutboundReply.State.NOT_SENT, reason=reason, text=""
    )
    _record_status(reply, status="not_sent", at=timezone.now(), error={"reason": reason})
    logger.info("whatsapp reply not sent", extra={"reply_id": reply.pk, "reason": reason})
    return reason


def _failed(reply: OutboundReply, *, reason: str, code: int | None = None) -> str:
    OutboundReply.objects.filter(pk=reply.pk).update(
        state=OutboundReply.State.FAILED, reason=reason, last_error=f"{reason} {code or ''}".strip(), text=""
    )
    _record_status(reply, status="failed", at=timezone.now(), error={"reason": reason, "code": code})
    logger.warning("whatsapp reply failed", extra={"reply_id": reply.pk, "reason": reason, "code": code})
    return "failed"


def _record_status(
    reply: OutboundReply,
    *,
    status: str,
    at: datetime,
    error: dict[str, object] | None = None,
    outbound_ids: list[str] | None = None,
) -> None:
    """On the assistant message the reply carries; best effort (the row keeps the state anyway)."""
    if not reply.message_id:
        return
    try:
        chat_services.record_delivery_status(
            user_id=reply.user_id,
            message_id=reply.message_id,
            channel=Channel.WHATSAPP,
            status=status,
            at=at,
            error=error,
            outbound_ids=outbound_ids,
        )
    except PyMongoError as exc:
        logger.warning(
            "whatsapp delivery status not stored", extra={"reply_id": reply.pk, "error": type(exc).__name__}
        )


# --- delivery statuses (worker) ------------------------------------------------------------------------


def apply_status(*, update: payloads.StatusUpdate) -> bool:
    """A ``sent``/``delivered``/``read``/``failed`` callback: kept on the part and stored on the
    assistant message. False for a ``wamid`` we did not send (ignored)."""
    part = OutboundPart.objects.select_related("reply").filter(wamid=update.wamid).first()
    if part is None:
        return False
    OutboundPart.objects.filter(pk=part.pk).update(status=update.status, error_code=update.error_code)
    reply = part.reply
    if not reply.message_id:
        return True
    error = {"code": update.error_code, "title": update.error_title} if update.status == "failed" else None
    chat_services.record_delivery_status(
        user_id=reply.user_id,
        message_id=reply.message_id,
        channel=Channel.WHATSAPP,
        status=update.status,
        at=update.at,
        error=error,
    )
    return True


# --- recovery (beat) -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stalled:
    inbound_ids: list[int]
    reply_ids: list[int]


def stalled_work(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> Stalled:
    """Messages and replies whose task was lost, failed or is waiting for MongoDB to come back."""
    now = timezone.now()
    inbound = InboundMessage.objects.filter(
        Q(state=InboundMessage.State.RECEIVED, received_at__lt=now - older_than)
        | Q(state=InboundMessage.State.PROCESSING, claimed_until__lt=now)
    ).values_list("pk", flat=True)[:limit]
    replies = (
        OutboundReply.objects.filter(
            state__in=[OutboundReply.State.PENDING, OutboundReply.State.AWAITING_STORAGE],
            created_at__lt=now - older_than,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .values_list("pk", flat=True)[:limit]
    )
    return Stalled(inbound_ids=list(inbound), reply_ids=list(replies))
