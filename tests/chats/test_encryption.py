"""Per-patient encryption of chat content (CHAT_ENCRYPTION=on): nothing readable at rest, the owner
reads, exports and continues normally, another patient's key cannot decrypt, and erasing a patient
destroys their key (crypto-shredding) unless a legal hold keeps it."""

from __future__ import annotations

import base64
import io
import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import BSON, Binary
from django.core.management import call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone
from pymongo.errors import EncryptionError
from rest_framework.test import APIClient

from accounts.models import User
from chats import backups, crypto, recent_history, selectors, services, store, store_backup
from chats.exceptions import InvalidChatInput
from chats.importers import runs
from chats.models import ChatMessage, ChatSession, MessageVote
from chats.outbox import services as outbox
from chats.outbox.models import Erasure, OutboxEntry
from tests.chats.conftest import client_for
from tests.chats.encryption_keys import own_keys, raw_documents
from tests.chats.factories import session_with_messages
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"])

SECRET = "My psoriasis flares whenever I take lithium-carbonate 450mg"
FRAGMENTS = ("psoriasis", "lithium-carbonate", "450mg")


@pytest.fixture(autouse=True)
def encryption_on(tmp_path: Path) -> Iterator[None]:
    with own_keys(tmp_path):
        yield


def raw_bytes(*models: Any, user_id: int) -> bytes:
    return b"".join(BSON.encode(doc) for model in models for doc in raw_documents(model, user_id))


def send(client: APIClient, text: str, session_id: str = "") -> dict[str, Any]:
    body = {"message": text, **({"session_id": session_id} if session_id else {})}
    response = client.post("/api/chat/send", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def first_ciphertext(user_id: int) -> Binary:
    message = min(raw_documents(ChatMessage, user_id), key=lambda document: document["order"])
    content = message["content"]
    assert isinstance(content, Binary)
    return content


def test_stored_documents_contain_no_plaintext_of_a_message(alice: APIClient, patient: User) -> None:
    sent = send(alice, SECRET)
    voted = alice.post(
        f"/api/chat/messages/{sent['assistant_message']['message_id']}/vote",
        {"vote_type": "down", "reason": "lithium-carbonate advice was wrong"},
        format="json",
    )

    assert voted.status_code in (200, 201), voted.content
    stored = raw_bytes(ChatMessage, ChatSession, MessageVote, user_id=patient.pk)
    for fragment in FRAGMENTS:
        assert fragment.encode() not in stored
    message = min(raw_documents(ChatMessage, patient.pk), key=lambda document: document["order"])
    assert isinstance(message["content"], bytes | Binary)
    assert (message["role"], message["order"], message["user_id"]) == ("user", 1, patient.pk)


def test_outbox_rows_contain_no_plaintext_and_deliver_readable(patient: User) -> None:
    session = services.start_session(user_id=patient.pk)
    message_id = str(uuid.uuid4())
    outbox.enqueue_message(
        user_id=patient.pk,
        session_id=session.session_id,
        message_id=message_id,
        role="user",
        content=SECRET,
        created_at=timezone.now(),
    )
    with connections["default"].cursor() as cursor:
        cursor.execute(f"SELECT payload FROM {OutboxEntry._meta.db_table}")  # noqa: S608 - a model's table
        rows = "".join(str(row[0]) for row in cursor.fetchall())
    for fragment in FRAGMENTS:
        assert fragment not in rows

    outbox.drain()

    assert selectors.get_message(user_id=patient.pk, message_id=message_id).content == SECRET
    for fragment in FRAGMENTS:
        assert fragment.encode() not in raw_bytes(ChatMessage, user_id=patient.pk)


def test_the_recent_history_cache_holds_no_plaintext_and_reads_back(alice: APIClient, patient: User) -> None:
    sent = send(alice, SECRET)

    _at, fields, cached = recent_history.backend().read_session(patient.pk, sent["session_id"])

    cache_text = "".join([fields or "", *cached])
    for fragment in FRAGMENTS:
        assert fragment not in cache_text
    recent = recent_history.recent_session(user_id=patient.pk, session_id=sent["session_id"])
    assert recent is not None
    assert recent.messages[0].content == SECRET
    assert SECRET.startswith(recent.session.title)


def test_the_owner_reads_and_continues_the_conversation(alice: APIClient, patient: User) -> None:
    first = send(alice, SECRET)

    second = send(alice, "And it itches at night", first["session_id"])

    page = alice.get(f"/api/chat/sessions/{first['session_id']}/messages")
    assert page.status_code == 200
    assert SECRET in page.content.decode()
    assert "And it itches at night" in page.content.decode()
    session = selectors.get_session(user_id=patient.pk, session_id=second["session_id"])
    assert SECRET.startswith(session.title)
    assert session.message_count == 4
    stored = list(selectors.iter_session_messages(session=session))
    assert [m.content for m in stored][::2] == [SECRET, "And it itches at night"]


def test_the_owner_exports_plaintext(alice: APIClient) -> None:
    sent = send(alice, SECRET)

    response = alice.get(f"/api/chat/sessions/{sent['session_id']}/export?format=json")

    assert response.status_code == 200
    assert SECRET in b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]


def test_session_title_and_metadata_are_encrypted(patient: User) -> None:
    session = services.start_session(user_id=patient.pk, title=SECRET, metadata={"note": "psoriasis"})

    stored = raw_bytes(ChatSession, user_id=patient.pk)

    for fragment in FRAGMENTS:
        assert fragment.encode() not in stored
    assert selectors.get_session(user_id=patient.pk, session_id=session.session_id).metadata == {
        "note": "psoriasis"
    }


def test_another_patients_key_cannot_decrypt(alice: APIClient, patient: User) -> None:
    send(alice, SECRET)
    other = make_user(username="bob-crypto")
    crypto.encrypt_value(other.pk, "bob's key exists")
    ciphertext = first_ciphertext(patient.pk)
    other_key = crypto.ensure_patient_key(other.pk)
    assert crypto.data_key_id(ciphertext) == bytes(crypto.ensure_patient_key(patient.pk))

    # The same ciphertext, claiming to be under the other patient's key: authentication fails.
    forged = Binary(ciphertext[:1] + bytes(other_key) + ciphertext[17:], ciphertext.subtype)

    with pytest.raises(crypto.UndecryptableValue):
        crypto.decrypt_value(forged)
    assert crypto.decrypt_value(ciphertext) == SECRET


def test_an_altered_value_is_refused_not_misread(alice: APIClient, patient: User) -> None:
    send(alice, SECRET)
    ciphertext = bytearray(first_ciphertext(patient.pk))
    ciphertext[-20] ^= 1

    with pytest.raises(crypto.UndecryptableValue):
        crypto.decrypt_value(Binary(bytes(ciphertext), crypto.SEALED_SUBTYPE))


def test_values_of_the_first_format_still_read_and_encrypt_chats_rewrites_them(
    alice: APIClient, patient: User
) -> None:
    sent = send(alice, SECRET)
    # As the first encrypted version stored it: libmongocrypt's own value encryption (subtype 6).
    legacy = crypto.vault().encryption.encrypt(
        SECRET, crypto.RANDOM, key_alt_name=crypto.key_alt_name(patient.pk)
    )
    messages = store.raw_database()[ChatMessage._meta.db_table]
    first = min(raw_documents(ChatMessage, patient.pk), key=lambda document: document["order"])
    messages.update_one({"_id": first["_id"]}, {"$set": {"content": legacy}})
    assert first_ciphertext(patient.pk).subtype == 6

    page = alice.get(f"/api/chat/sessions/{sent['session_id']}/messages")
    assert page.status_code == 200
    assert SECRET in page.content.decode()

    call_command("encrypt_chats", stdout=io.StringIO())

    assert first_ciphertext(patient.pk).subtype == crypto.SEALED_SUBTYPE
    assert crypto.decrypt_value(first_ciphertext(patient.pk)) == SECRET
    assert SECRET.encode() not in raw_bytes(ChatMessage, user_id=patient.pk)


def test_clearing_all_chats_shreds_the_key_and_a_fresh_client_cannot_decrypt(
    alice: APIClient, patient: User
) -> None:
    send(alice, SECRET)
    ciphertext = first_ciphertext(patient.pk)

    response = alice.delete("/api/chat-history/clear-all")

    assert response.status_code == 200
    erasure = Erasure.objects.get(pk=response.json()["erasure_id"])
    assert erasure.shredded_key_ids
    assert erasure.key_shredded_at is not None
    assert not crypto.patient_key_exists(patient.pk)
    crypto.reset()  # a fresh client: no key cached
    with pytest.raises(crypto.PatientKeyErased):
        crypto.decrypt_value(ciphertext)
    # The patient chats again, under a new data key: the old value stays erased.
    send(alice, "A new conversation")
    assert crypto.patient_key_exists(patient.pk)
    with pytest.raises(crypto.PatientKeyErased):
        crypto.decrypt_value(ciphertext)


def test_a_legal_hold_prevents_shredding(alice: APIClient, patient: User) -> None:
    sent = send(alice, SECRET)
    held = selectors.get_session(user_id=patient.pk, session_id=sent["session_id"])
    services.set_legal_hold(session=held, hold=True)

    response = alice.delete("/api/chat-history/clear-all")

    erasure = Erasure.objects.get(pk=response.json()["erasure_id"])
    assert erasure.kept_session_ids == [sent["session_id"]]
    assert erasure.shredded_key_ids == []
    assert crypto.patient_key_exists(patient.pk)
    crypto.reset()
    kept = selectors.get_session(user_id=patient.pk, session_id=sent["session_id"], include_deleted=True)
    assert kept.title == held.title


def test_erasing_one_of_several_sessions_keeps_the_key(alice: APIClient, patient: User) -> None:
    first = send(alice, SECRET)
    send(alice, "A second conversation")

    response = alice.delete(f"/api/chat/sessions/{first['session_id']}/permanent")

    assert response.status_code in (200, 204), response.content
    assert crypto.patient_key_exists(patient.pk)


def test_a_shredded_patients_backup_fails_as_erased_while_others_restore(tmp_path: Path) -> None:
    alice, bob = make_user(username="alice-bk"), make_user(username="bob-bk")
    sent = send(client_for(alice), SECRET)
    bobs = send(client_for(bob), "Bob's rash is on the elbow")
    backups.backup_changed_sessions(directory=str(tmp_path))
    files = b"".join(path.read_bytes() for path in tmp_path.rglob("*.json"))
    for fragment in (*FRAGMENTS, "elbow"):
        assert fragment.encode() not in files
    services.request_erasure(user_id=alice.pk, requested_by_id=alice.pk)
    services.delete_session_permanently(
        session=selectors.get_session(user_id=bob.pk, session_id=bobs["session_id"])
    )
    crypto.reset()
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "migrate_chats",
        "--source",
        "json",
        "--path",
        str(tmp_path),
        "--allow-quarantine",
        stdout=out,
        stderr=err,
    )

    reasons = {entry["key"]: entry["reason"] for entry in runs.quarantine_collection().find({})}
    assert reasons == {f"file:{alice.pk}/{sent['session_id']}.json": crypto.ERASED_REASON}
    restored = selectors.get_session(user_id=bob.pk, session_id=bobs["session_id"])
    assert "elbow" in next(iter(selectors.iter_session_messages(session=restored))).content
    assert not ChatSession.objects.filter(user_id=alice.pk).exists()


def test_a_full_store_backup_holds_ciphertext_and_no_keys(alice: APIClient, tmp_path: Path) -> None:
    send(alice, SECRET)

    store_backup.dump_chat_store(directory=tmp_path / "dump")

    dumped = b"".join(path.read_bytes() for path in (tmp_path / "dump").iterdir())
    for fragment in FRAGMENTS:
        assert fragment.encode() not in dumped
    assert b"keyMaterial" not in dumped


def test_master_key_rotation_keeps_everything_readable(
    alice: APIClient, patient: User, tmp_path: Path
) -> None:
    sent = send(alice, SECRET)
    new_key = tmp_path / "new-master-key.b64"
    new_key.write_bytes(base64.b64encode(os.urandom(96)))
    out = io.StringIO()

    call_command("rewrap_chat_keys", "--new-local-key-file", str(new_key), stdout=out)

    assert out.getvalue().strip() == "rewrapped 1 patient data keys"
    with override_settings(CHAT_ENCRYPTION_LOCAL_KEY_FILE=str(new_key)):
        crypto.reset()
        session = selectors.get_session(user_id=patient.pk, session_id=sent["session_id"])
        assert next(iter(selectors.iter_session_messages(session=session))).content == SECRET
        send(alice, "A message after the rotation", sent["session_id"])
    crypto.reset()  # the old master key no longer unwraps the data key
    with pytest.raises(EncryptionError):
        crypto.decrypt_value(first_ciphertext(patient.pk))


def test_search_keys_are_per_patient_and_stable(patient: User) -> None:
    other = make_user(username="carol-crypto")

    mine = crypto.search_hmac(patient.pk, "psoriasi")

    assert mine == crypto.search_hmac(patient.pk, "psoriasi")
    assert mine != crypto.search_hmac(other.pk, "psoriasi")
    assert "psoriasi" not in mine


def test_erasure_needs_no_master_key_while_encryption_is_off(patient: User, tmp_path: Path) -> None:
    absent = str(tmp_path / "no-such-key.b64")
    with override_settings(
        CHAT_ENCRYPTION="off", CHAT_ENCRYPTION_GENERATE_LOCAL_KEY=False, CHAT_ENCRYPTION_LOCAL_KEY_FILE=absent
    ):
        crypto.reset()
        session_with_messages(user_id=patient.pk, messages=2)

        result = services.request_erasure(user_id=patient.pk, requested_by_id=patient.pk)

    assert result.completed
    assert Erasure.objects.get(pk=result.erasure_id).shredded_key_ids == []


def test_a_retention_purge_of_the_last_session_shreds_unless_writes_are_queued(
    alice: APIClient, patient: User
) -> None:
    sent = send(alice, SECRET)
    session = selectors.get_session(user_id=patient.pk, session_id=sent["session_id"])
    services.soft_delete_session(session=session)
    long_ago = timezone.now() - timedelta(days=400)
    store.collection(ChatSession).update_one(store.owned(session), {"$set": {"deleted_at": long_ago}})
    queued = outbox.enqueue_vote(user_id=patient.pk, message_id=str(uuid.uuid4()), vote_type="up", reason="")

    services.cleanup_chats()

    assert crypto.patient_key_exists(patient.pk)  # a queued write keeps the patient's key
    queued.delete()
    store.collection(ChatSession).insert_one(store.to_document(session))  # purge it again
    store.collection(ChatSession).update_one(store.owned(session), {"$set": {"deleted_at": long_ago}})

    services.cleanup_chats()

    assert not crypto.patient_key_exists(patient.pk)
    erasure = Erasure.objects.get(user_id=patient.pk)
    assert (erasure.requested_by_id, len(erasure.shredded_key_ids)) == (None, 1)


def test_search_works_on_keyed_terms_with_nothing_readable_at_rest(alice: APIClient, patient: User) -> None:
    """Issue 22 on issue 19's search: prefix and typo expansion through the patient's keyed HMACs."""
    from chats.models import SearchTerm

    mine = send(alice, "Since Monday my headache comes back after lunch, and I worry about diabetes")
    intruder = client_for(make_user(username="mallory-crypto"))
    send(intruder, "A headache here too")

    prefix = alice.get("/api/chat/search?q=head").json()["data"]
    typo = alice.get("/api/chat/search?q=diabetis").json()["data"]

    assert 1 in [m["order"] for m in prefix["messages"]]
    assert 1 in [m["order"] for m in typo["messages"]]
    # The snippet marks the matched words although the stored terms are keyed hashes.
    assert "<mark>headache</mark>" in prefix["messages"][0]["snippet"]
    assert "<mark>diabetes</mark>" in typo["messages"][0]["snippet"]
    assert {m["session_id"] for m in prefix["messages"] + typo["messages"]} == {mine["session_id"]}
    stored = raw_bytes(ChatMessage, ChatSession, SearchTerm, user_id=patient.pk)
    for word in (b"headach", b"diabet", b"monday", b"lunch"):
        assert word not in stored.lower()
    with pytest.raises(InvalidChatInput):
        selectors.search_chats(query="headache", user_id=None)


def test_rebuild_search_stems_the_plaintext_of_sealed_messages(alice: APIClient, patient: User) -> None:
    send(alice, "Since Monday my headache comes back after lunch")

    call_command("rebuild_search", "--user", str(patient.pk))

    found = alice.get("/api/chat/search?q=headache").json()["data"]
    assert 1 in [m["order"] for m in found["messages"]]
