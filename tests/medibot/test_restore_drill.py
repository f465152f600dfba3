"""Restore drill (docs/OPERATIONS.md, "Backup and restore"): back up both stores, wipe both,
restore, then the audit chain is intact and every count and conversation hash is identical."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import ApiToken, User
from audit.models import AuditEvent, ChainHead
from audit.services import record_access
from chats import selectors, store
from chats.models import ChatSession
from chats.store_backup import RestoreRefused, restore_chat_store
from ehr.models import Allergy, PatientProfile
from medibot.mongodb.shard_guard import unscoped
from tests.chats.factories import session_with_messages
from tests.ehr.factories import AllergyFactory, make_clinician, make_profile
from tests.factories import make_user, token_for

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

# The relational backup: everything but what migrations recreate (as the procedure documents). XML,
# because Django's JSON serializer cuts timestamps to milliseconds and the audit hashes cover them.
# The beat schedules are recreated by ``migrate`` itself (chats.outbox.schedules).
DUMPDATA_EXCLUDES = ["contenttypes", "auth.permission", "sessions", "admin.logentry", "django_celery_beat"]


def conversation_hashes() -> dict[str, tuple[int, str]]:
    """Per conversation: message count and SHA-256 of the ordered role/content/timestamp list."""
    hashes: dict[str, tuple[int, str]] = {}
    with unscoped("the drill compares every conversation"):
        sessions = list(ChatSession.objects.order_by("session_id"))
    for session in sessions:
        digest = hashlib.sha256()
        count = 0
        for message in selectors.iter_session_messages(session=session):
            digest.update(f"{message.role}\x1f{message.content}\x1f{message.created_at.isoformat()}\x1e".encode())
            count += 1
        hashes[session.session_id] = (count, digest.hexdigest())
    return hashes


def counts() -> dict[str, int]:
    database = store.database()
    with unscoped("the drill counts every collection"):
        chat = {name: database[name].count_documents({}) for name in database.list_collection_names()}
    relational = {
        "users": User.objects.count(),
        "tokens": ApiToken.objects.count(),
        "profiles": PatientProfile.objects.count(),
        "allergies": Allergy.objects.count(),
        "audit_events": AuditEvent.objects.count(),
    }
    return {**chat, **relational}


def verify_audit() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue().strip()


def wipe_both_stores() -> None:
    call_command("flush", "--noinput", database="default")
    database = store.database()
    with unscoped("the drill wipes the chat store"):
        for name in database.list_collection_names():
            database[name].delete_many({})


def test_backup_wipe_restore_gives_back_identical_stores(tmp_path: Path) -> None:
    clinician = make_clinician(username="drill-clinician")
    patient = make_user(username="drill-patient")
    profile = make_profile(user=patient, clinicians=[clinician])
    AllergyFactory(patient=profile)
    token_for(patient)
    for number in range(3):
        record_access(
            actor=clinician, action="read", object_type="ehr", object_id=number, owner_id=patient.pk
        )
    session_with_messages(user_id=patient.pk, messages=5)
    session_with_messages(user_id=clinician.pk, messages=2)
    before_counts, before_hashes = counts(), conversation_hashes()
    assert verify_audit() == "audit chain intact: 3 events verified"
    head = ChainHead.objects.get()

    mysql_backup, chat_backup = tmp_path / "mysql.xml", tmp_path / "chats"
    call_command(
        "dumpdata",
        "--natural-foreign",
        "--natural-primary",
        "--format=xml",
        *[f"--exclude={label}" for label in DUMPDATA_EXCLUDES],
        output=str(mysql_backup),
    )
    call_command("backup_chat_store", "--output", str(chat_backup), stdout=io.StringIO())
    wipe_both_stores()
    assert counts()["users"] == 0
    assert conversation_hashes() == {}

    call_command("loaddata", str(mysql_backup), verbosity=0)
    call_command("restore_chat_store", "--input", str(chat_backup), stdout=io.StringIO())

    assert verify_audit() == "audit chain intact: 3 events verified"
    assert (ChainHead.objects.get().sequence, ChainHead.objects.get().hash) == (head.sequence, head.hash)
    assert counts() == before_counts
    assert conversation_hashes() == before_hashes


def test_a_restore_refuses_a_store_that_already_holds_chats(tmp_path: Path) -> None:
    session_with_messages(messages=1)
    call_command("backup_chat_store", "--output", str(tmp_path / "chats"), stdout=io.StringIO())
    with pytest.raises(RestoreRefused, match="not empty"):
        restore_chat_store(directory=tmp_path / "chats")


def test_a_damaged_backup_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    session_with_messages(messages=1)
    call_command("backup_chat_store", "--output", str(tmp_path / "chats"), stdout=io.StringIO())
    messages_file = next((tmp_path / "chats").glob("*messages*.jsonl"))
    messages_file.write_text(messages_file.read_text().replace("message 1", "message X"))
    with unscoped("the test empties one collection"):
        store.database()[messages_file.stem].delete_many({})
    with pytest.raises(RestoreRefused, match="checksum"):
        restore_chat_store(directory=tmp_path / "chats")
    with unscoped("the test counts one collection"):
        assert store.database()[messages_file.stem].count_documents({}) == 0
