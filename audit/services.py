"""Writing audit events: the one way anything enters the chain.

Every writer locks the chain head (``SELECT ... FOR UPDATE`` on MySQL; SQLite's IMMEDIATE
transactions serialise writers anyway), appends after it and moves it, all in one transaction on
``default`` — concurrent writers queue up, and the primary key on ``sequence`` refuses a fork even
if the lock were bypassed. Accesses by the data's owner are not recorded.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, IntegrityError, router, transaction
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.settings import api_settings

from audit import chain
from audit.models import GENESIS_HASH, MAX_DETAIL_CHARS, AuditEvent, ChainHead

logger = logging.getLogger(__name__)

HEAD_ID = 1


@dataclass(frozen=True)
class Access:
    """One access to record: what was done to which object of whose data."""

    action: str
    object_type: str
    object_id: str
    owner_id: int | None
    outcome: str = AuditEvent.Outcome.OK
    detail: str = ""


def record_access(
    *,
    actor: Any,
    action: str,
    object_type: str,
    object_id: str | int,
    owner_id: int | None,
    outcome: str = AuditEvent.Outcome.OK,
    request: HttpRequest | None = None,
) -> AuditEvent | None:
    """Append one event; ``None`` when the actor is the owner (owners' own access is not audited).

    ``actor`` is a user (anonymous or ``None`` for a system job), ``request`` gives the client IP.
    """
    events = record_accesses(
        actor=actor,
        accesses=[Access(action, object_type, str(object_id), owner_id, outcome)],
        request=request,
    )
    return events[0] if events else None


def record_accesses(
    *, actor: Any, accesses: Iterable[Access], request: HttpRequest | None = None
) -> list[AuditEvent]:
    """Append one event per access in a single locked transaction (a page of rows costs one insert)."""
    actor_id = actor_id_of(actor)
    wanted = [access for access in accesses if access.owner_id is None or access.owner_id != actor_id]
    for access in wanted:
        _check(access)
    if not wanted:
        return []
    ip = client_ip(request)
    using = router.db_for_write(AuditEvent)
    with transaction.atomic(using=using):
        head = _locked_head(using)
        moment = timezone.now()
        events: list[AuditEvent] = []
        for access in wanted:
            event = AuditEvent(
                sequence=head.sequence + 1,
                created_at=moment,
                actor_id=actor_id,
                action=access.action,
                object_type=access.object_type,
                object_id=access.object_id,
                owner_id=access.owner_id,
                outcome=access.outcome,
                detail=access.detail,
                client_ip=ip,
                prev_hash=head.hash,
            )
            event.hash = chain.event_hash(event)
            head.sequence, head.hash = event.sequence, event.hash
            events.append(event)
        AuditEvent.objects.using(using).bulk_create(events)
        head.save(using=using, update_fields=["sequence", "hash"])
    logger.debug(
        "audit events appended",
        extra={"actor_id": actor_id, "count": len(events), "sequence": head.sequence, "head_hash": head.hash},
    )
    return events


def actor_id_of(actor: Any) -> int | None:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return None
    return int(actor.pk)


def client_ip(request: HttpRequest | None) -> str | None:
    """The client's address as DRF's throttles see it (``NUM_PROXIES`` trusted proxies), or None."""
    if request is None:
        return None
    remote_addr = request.META.get("REMOTE_ADDR")
    forwarded = request.headers.get("x-forwarded-for")
    num_proxies = api_settings.NUM_PROXIES
    candidate = remote_addr
    if forwarded and num_proxies:
        addresses = forwarded.split(",")
        candidate = addresses[-min(num_proxies, len(addresses))].strip()
    try:
        address = ipaddress.ip_address(candidate or "")
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped  # dual-stack listeners: store the IPv4 address itself
    return str(address)  # the canonical form the database keeps, so the stored hash stays valid


def ensure_chain_head(*, using: str) -> None:
    """Create the head row if it is missing (after ``migrate`` and the test runner's flushes)."""
    if using != router.db_for_write(ChainHead):
        return  # the chats store, or a read replica (its rows come from the primary)
    if ChainHead.objects.using(using).filter(pk=HEAD_ID).exists():
        return
    newest = AuditEvent.objects.using(using).order_by("-sequence").first()
    try:
        with transaction.atomic(using=using):
            ChainHead.objects.using(using).create(
                pk=HEAD_ID,
                sequence=newest.sequence if newest else 0,
                hash=newest.hash if newest else GENESIS_HASH,
            )
    except IntegrityError:
        pass  # a concurrent caller created it


def ensure_chain_head_after_migrate(
    *, using: str = DEFAULT_DB_ALIAS, apps: Apps = global_apps, **kwargs: Any
) -> None:
    """``post_migrate`` receiver (see AuditConfig.ready); waits until the audit tables exist."""
    try:
        apps.get_model("audit", "ChainHead")
    except LookupError:
        return
    ensure_chain_head(using=using)


def _locked_head(using: str) -> ChainHead:
    head = ChainHead.objects.using(using).select_for_update().filter(pk=HEAD_ID).first()
    if head is None:
        ensure_chain_head(using=using)
        head = ChainHead.objects.using(using).select_for_update().get(pk=HEAD_ID)
    return head


def _check(access: Access) -> None:
    if access.action not in AuditEvent.Action.values:
        raise ValueError(f"Unknown audit action {access.action!r}.")
    if access.outcome not in AuditEvent.Outcome.values:
        raise ValueError(f"Unknown audit outcome {access.outcome!r}.")
    if not access.object_type or len(access.object_type) > 64 or len(access.object_id) > 64:
        raise ValueError("An audit event needs an object type and ids of at most 64 characters.")
    if len(access.detail) > MAX_DETAIL_CHARS:
        raise ValueError(f"An audit event's detail is at most {MAX_DETAIL_CHARS} characters.")
