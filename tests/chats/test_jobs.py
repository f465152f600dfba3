"""Scheduled jobs: retention cleanup, daily statistics, JSON backup — idempotent, legal holds kept."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from bson import Int64
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from chats import backups, selectors, services, store
from chats.models import ChatMessage, ChatSession, DailyChatStats
from tests.chats.factories import next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["chats"])


def age(session: ChatSession, *, deleted_days: int | None = None, updated_days: int | None = None) -> None:
    changes = {}
    if deleted_days is not None:
        changes["deleted_at"] = timezone.now() - timedelta(days=deleted_days)
    if updated_days is not None:
        changes["updated_at"] = timezone.now() - timedelta(days=updated_days)
    store.collection(ChatSession).update_one(
        {"_id": session.pk, "user_id": Int64(session.user_id)}, {"$set": changes}
    )


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_cleanup_purges_old_soft_deleted_and_archives_inactive_but_never_legal_holds(
    settings: object,
) -> None:
    old_deleted = session_with_messages(messages=2)
    recent_deleted = session_with_messages(messages=1)
    held = session_with_messages(messages=1)
    inactive = session_with_messages(messages=1)
    active = session_with_messages(messages=1)
    for session in (old_deleted, recent_deleted, held):
        services.soft_delete_session(session=session)
    services.set_legal_hold(session=held, hold=True)
    age(old_deleted, deleted_days=45)
    age(held, deleted_days=400, updated_days=400)
    age(recent_deleted, deleted_days=3)
    age(inactive, updated_days=200)

    dry = services.cleanup_chats(days_old=90, dry_run=True)
    first = services.cleanup_chats(days_old=90)
    second = services.cleanup_chats(days_old=90)

    assert (dry.purged_sessions, dry.retained_sessions) == (1, 1)
    assert (first.purged_sessions, first.purged_messages, first.retained_sessions) == (1, 2, 1)
    assert (second.purged_sessions, second.retained_sessions) == (0, 0)
    assert not ChatSession.objects.filter(pk=old_deleted.pk).exists()
    assert ChatMessage.objects.filter(session_id=old_deleted.pk).count() == 0
    assert ChatSession.objects.filter(pk__in=[recent_deleted.pk, held.pk, active.pk]).count() == 3
    assert ChatSession.objects.get(pk=inactive.pk).is_archived is True
    assert ChatSession.objects.get(pk=active.pk).is_archived is False


@pytest.mark.django_db(databases=["default", "chats"])  # deleting removes care-team shares (MySQL)
def test_retention_purge_mode_deletes_inactive_sessions(settings: object) -> None:
    settings.CHAT_RETENTION_ACTION = "purge"  # type: ignore[attr-defined]
    inactive = session_with_messages(messages=3)
    age(inactive, updated_days=40)
    report = services.cleanup_chats(days_old=30)
    assert (report.purged_sessions, report.purged_messages, report.retention_action) == (1, 3, "purge")


def test_cleanup_and_stats_commands(settings: object) -> None:
    session_with_messages(messages=2)
    out = StringIO()
    call_command("cleanup_chats", "--days-old", "30", "--dry-run", stdout=out)
    assert "would purge 0 sessions" in out.getvalue()
    out = StringIO()
    call_command("chat_stats", "--date", timezone.now().date().isoformat(), stdout=out)
    call_command("chat_stats", "--date", timezone.now().date().isoformat(), stdout=out)
    assert DailyChatStats.objects.count() == 1
    assert DailyChatStats.objects.get().total_messages >= 2


def test_backup_writes_changed_sessions_with_a_verifiable_manifest(tmp_path: Path) -> None:
    user_id = next_user_id()
    first = session_with_messages(user_id=user_id, messages=2)
    report = backups.backup_changed_sessions(directory=str(tmp_path))
    assert report.sessions >= 1
    written = json.loads((tmp_path / f"{user_id}/{first.session_id}.json").read_text())
    assert [m["order"] for m in written["data"]["messages"]] == [1, 2]
    assert backups.verify_manifest(directory=str(tmp_path), manifest=report.manifest) == []

    again = backups.backup_changed_sessions(directory=str(tmp_path))
    assert again.sessions == 0
    services.append_message(session=first, role="user", content="changed")
    assert backups.backup_changed_sessions(directory=str(tmp_path)).sessions == 1

    (tmp_path / f"{user_id}/{first.session_id}.json").write_text("tampered")
    assert backups.verify_manifest(directory=str(tmp_path), manifest=report.manifest) == [
        f"{user_id}/{first.session_id}.json"
    ]


@pytest.mark.django_db(databases=["default"])
def test_beat_schedules_exist_as_editable_rows() -> None:
    tasks = dict(PeriodicTask.objects.values_list("task", "name"))
    for task in (
        "chats.tasks.sync_outbox",
        "chats.tasks.cleanup_chats",
        "chats.tasks.compute_daily_stats",
        "chats.tasks.backup_chats",
        "chats.tasks.count_search_terms",
    ):
        assert task in tasks
    for every_minute in ("chats.tasks.sync_outbox", "chats.tasks.count_search_terms"):
        job = PeriodicTask.objects.get(task=every_minute)
        assert (job.interval.every, job.interval.period) == (1, "minutes")


@pytest.mark.django_db(databases=["default"])
def test_operator_changes_to_a_schedule_survive_the_next_migrate() -> None:
    from chats.outbox.schedules import ensure_schedules

    PeriodicTask.objects.filter(task="chats.tasks.cleanup_chats").update(enabled=False)
    PeriodicTask.objects.filter(task="chats.tasks.backup_chats").delete()

    assert ensure_schedules() == 1
    assert PeriodicTask.objects.get(task="chats.tasks.cleanup_chats").enabled is False
    assert PeriodicTask.objects.filter(task="chats.tasks.backup_chats").count() == 1


def test_daily_statistics_read_one_day_by_index_not_by_scanning_every_message() -> None:
    session_with_messages(messages=3)
    older = session_with_messages(messages=40)
    store.collection(ChatMessage).update_many(
        {"session_id": older.pk, "user_id": Int64(older.user_id)},
        {"$set": {"created_at": timezone.now() - timedelta(days=3)}},
    )
    start, end = selectors.day_bounds(timezone.now().date())
    window = {"created_at": {"$gte": start, "$lt": end}}

    stats = store.collection(ChatMessage).find(window).explain()["executionStats"]

    assert stats["nReturned"] >= 3
    assert stats["totalDocsExamined"] == stats["nReturned"], "the day must be an index range, not a scan"
