"""Reading the audit trail: an owner's access log and the verification of the chain."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from accounts.models import User
from audit import chain
from audit.models import GENESIS_HASH, AuditEvent, ChainHead

VERIFY_CHUNK_SIZE = 2000


def events_about(*, owner_id: int) -> QuerySet[AuditEvent]:
    """Every access to this owner's data by someone else, newest first."""
    return AuditEvent.objects.filter(owner_id=owner_id).order_by("-sequence")


def users_by_id(*, user_ids: Iterable[int | None]) -> dict[int, User]:
    """The users a page of events names (actors, owners), in one query."""
    return User.objects.in_bulk({user_id for user_id in user_ids if user_id is not None})


@dataclass(frozen=True)
class BrokenLink:
    sequence: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken: BrokenLink | None


def verify_chain(*, chunk_size: int = VERIFY_CHUNK_SIZE) -> ChainReport:
    """Walk the chain from the first event and report the first broken link, if any.

    A link is broken when a sequence number is missing, an event's ``prev_hash`` is not the hash
    of the event before it, its own hash does not match its fields, or the chain head no longer
    names the last event (events removed from the end).
    """
    expected, previous_hash, checked = 1, GENESIS_HASH, 0
    for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=chunk_size):
        if event.sequence != expected:
            return ChainReport(
                checked,
                BrokenLink(expected, f"event {expected} is missing (the next one is {event.sequence})"),
            )
        if event.prev_hash != previous_hash:
            return ChainReport(
                checked,
                BrokenLink(event.sequence, f"event {event.sequence} does not link to event {expected - 1}"),
            )
        if chain.event_hash(event) != event.hash:
            return ChainReport(
                checked,
                BrokenLink(event.sequence, f"event {event.sequence} was altered (its hash does not match)"),
            )
        checked += 1
        expected, previous_hash = expected + 1, event.hash
    head = ChainHead.objects.filter(pk=1).first()
    if head is not None and (head.sequence, head.hash) != (expected - 1, previous_hash):
        return ChainReport(
            checked,
            BrokenLink(
                min(head.sequence, expected),
                f"the chain ends at event {expected - 1} but its head records event {head.sequence}"
                " (events removed from the end?)",
            ),
        )
    return ChainReport(checked, None)
