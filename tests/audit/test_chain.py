"""The audit hash chain: each event links to the one before; ``verify_audit`` finds the first break."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import RequestFactory

from audit import chain, selectors, services
from audit.models import CHAT_MESSAGE, CHAT_SESSION, GENESIS_HASH, AuditEvent, ChainHead
from chats.models import ChatMessage, ChatSession
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def _record(count: int) -> list[AuditEvent]:
    actor, owner_id = make_user(), make_user().pk
    return [
        event
        for number in range(count)
        for event in services.record_accesses(
            actor=actor,
            accesses=[services.Access(AuditEvent.Action.READ, "ehr.allergy", str(number), owner_id)],
        )
    ]


def _raw(sql: str, params: list[Any]) -> None:
    """What an intruder with database access would do, bypassing the model."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _verify() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, str(exc)
    return 0, out.getvalue()


def test_each_event_links_to_the_one_before() -> None:
    first, second, third = _record(3)
    assert [first.sequence, second.sequence, third.sequence] == [1, 2, 3]
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert all(chain.event_hash(event) == event.hash for event in AuditEvent.objects.all())
    assert ChainHead.objects.get().sequence == 3


def test_a_page_of_accesses_is_one_insert_in_one_chain(django_assert_max_num_queries: object) -> None:
    actor, owner_id = make_user(), make_user().pk
    accesses = [
        services.Access(AuditEvent.Action.READ, "chats.chatsession", f"s{n}", owner_id) for n in range(50)
    ]
    with django_assert_max_num_queries(5):  # type: ignore[operator]
        services.record_accesses(actor=actor, accesses=accesses)
    assert selectors.verify_chain().broken is None
    assert AuditEvent.objects.count() == 50


def test_the_owners_own_access_is_not_recorded() -> None:
    owner = make_user()
    assert (
        services.record_access(
            actor=owner, action="read", object_type="ehr.allergy", object_id=1, owner_id=owner.pk
        )
        is None
    )
    assert not AuditEvent.objects.exists()


def test_unknown_actions_are_refused() -> None:
    with pytest.raises(ValueError, match="Unknown audit action"):
        services.record_access(actor=None, action="peek", object_type="ehr.allergy", object_id=1, owner_id=1)


def test_client_ip_comes_from_the_request_and_bad_addresses_are_dropped() -> None:
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.4")
    event = services.record_access(
        actor=None, action="read", object_type="ehr.allergy", object_id=1, owner_id=1, request=request
    )
    assert event is not None
    assert event.client_ip == "198.51.100.4"
    assert services.client_ip(RequestFactory().get("/", REMOTE_ADDR="not-an-ip")) is None


def test_verify_audit_passes_an_intact_chain() -> None:
    _record(4)
    assert _verify() == (0, "audit chain intact: 4 events verified\n")


def test_verify_audit_names_an_altered_event() -> None:
    _record(5)
    _raw("UPDATE audit_auditevent SET owner_id = owner_id + 1 WHERE sequence = %s", [3])
    code, message = _verify()
    assert code == 1
    assert message.startswith("audit chain broken at event 3: event 3 was altered")


def test_verify_audit_names_a_removed_event() -> None:
    _record(5)
    _raw("DELETE FROM audit_auditevent WHERE sequence = %s", [2])
    code, message = _verify()
    assert code == 1
    assert message.startswith("audit chain broken at event 2: event 2 is missing")


def test_verify_audit_names_a_rehashed_event_by_the_broken_link_after_it() -> None:
    events = _record(4)
    forged = AuditEvent.objects.get(sequence=2)
    forged.owner_id = 42
    _raw(
        "UPDATE audit_auditevent SET owner_id = %s, hash = %s WHERE sequence = %s",
        [42, chain.event_hash(forged), 2],
    )
    code, message = _verify()
    assert code == 1
    assert message.startswith("audit chain broken at event 3: event 3 does not link to event 2")
    assert events[2].prev_hash != chain.event_hash(forged)


def test_verify_audit_notices_events_removed_from_the_end() -> None:
    _record(4)
    _raw("DELETE FROM audit_auditevent WHERE sequence >= %s", [3])
    code, message = _verify()
    assert code == 1
    assert "the chain ends at event 2 but its head records event 4" in message


def test_a_missing_head_is_rebuilt_from_the_newest_event() -> None:
    _record(2)
    ChainHead.objects.all().delete()
    _record(1)
    assert AuditEvent.objects.order_by("sequence").last().sequence == 3  # type: ignore[union-attr]
    assert selectors.verify_chain().broken is None


def test_chat_object_type_names_are_the_model_labels() -> None:
    assert ChatSession._meta.label_lower == CHAT_SESSION
    assert ChatMessage._meta.label_lower == CHAT_MESSAGE


@pytest.mark.parametrize(
    ("address", "stored"),
    [("::ffff:192.0.2.7", "192.0.2.7"), ("2001:0DB8:0000::0001", "2001:db8::1"), ("192.0.2.8", "192.0.2.8")],
)
def test_addresses_are_stored_canonically_and_still_verify(address: str, stored: str) -> None:
    services.record_access(
        actor=None,
        action="read",
        object_type="ehr.allergy",
        object_id=1,
        owner_id=make_user().pk,
        request=RequestFactory().get("/", REMOTE_ADDR=address),
    )
    assert AuditEvent.objects.get().client_ip == stored
    assert selectors.verify_chain().broken is None


def test_detail_is_part_of_the_hash_and_events_without_it_keep_theirs() -> None:
    owner = make_user()
    plain, detailed = services.record_accesses(
        actor=make_user(),
        accesses=[
            services.Access(AuditEvent.Action.READ, "chats.chatsession", "s1", owner.pk),
            services.Access(
                AuditEvent.Action.READ, "chats.chatsession", "s1", owner.pk, detail="messages 1-50"
            ),
        ],
    )
    assert plain.detail == ""
    assert chain.event_hash(plain) == plain.hash
    assert chain.event_hash(detailed) == detailed.hash
    detailed.detail = "messages 1-60"
    assert chain.event_hash(detailed) != detailed.hash
