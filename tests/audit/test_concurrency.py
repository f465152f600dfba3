"""Concurrent writers queue up on the chain head: the chain never forks, no sequence is lost."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit import selectors, services
from audit.models import AuditEvent
from tests.factories import make_user

WRITERS = 6
EVENTS_EACH = 8


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_build_one_unbroken_chain() -> None:
    actor, owner = make_user(), make_user()
    start = threading.Barrier(WRITERS)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait(timeout=30)
            for number in range(EVENTS_EACH):
                services.record_access(
                    actor=actor,
                    action="read",
                    object_type="ehr.allergy",
                    object_id=f"{writer}-{number}",
                    owner_id=owner.pk,
                )
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    sequences = list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, WRITERS * EVENTS_EACH + 1))
    report = selectors.verify_chain()
    assert report.broken is None
    assert report.checked == WRITERS * EVENTS_EACH
