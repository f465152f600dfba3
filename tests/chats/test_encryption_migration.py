"""``manage.py encrypt_chats``: existing plaintext encrypted in place, verified, resumable after
SIGKILL, and reversible (``--decrypt``) for a rollback."""

from __future__ import annotations

import io
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from bson import BSON
from django.core.management import call_command
from django.test import override_settings

from chats import selectors, store
from chats.models import ChatMessage, ChatSession
from chats.services.encryption import PROGRESS
from tests.chats.encryption_keys import own_keys, raw_documents
from tests.chats.factories import session_with_messages
from tests.support.processes import Background, child_env, poll

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


@pytest.fixture
def keys(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Existing data is written with encryption off; the command encrypts it."""
    with own_keys(tmp_path, encryption="off") as environment:
        yield environment


def stored_bytes() -> bytes:
    return b"".join(BSON.encode(doc) for model in (ChatMessage, ChatSession) for doc in raw_documents(model))


def encrypt_chats(*args: str) -> str:
    out = io.StringIO()
    call_command("encrypt_chats", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def conversation(session: ChatSession) -> list[str]:
    return [m.content for m in selectors.iter_session_messages(session=session)]


def test_existing_plaintext_is_encrypted_in_place_and_verified(keys: dict[str, str]) -> None:
    session = session_with_messages(messages=4, title="Nephrotic syndrome diary")
    before = conversation(session)
    assert b"Nephrotic" in stored_bytes()

    output = encrypt_chats("--batch-size", "3")

    assert "verified 5 by hash" in output
    assert b"Nephrotic" not in stored_bytes()
    assert b"of the session" not in stored_bytes()
    again = selectors.get_session(user_id=session.user_id, session_id=session.session_id)
    assert (again.title, conversation(again)) == ("Nephrotic syndrome diary", before)
    assert "encrypted chat_sessions 0, chat_messages 0" in encrypt_chats()  # a rerun finds nothing to do


def test_decrypt_rolls_back_to_plaintext_with_search_terms(keys: dict[str, str]) -> None:
    session = session_with_messages(messages=2, title="Nephrotic syndrome diary")
    encrypt_chats()

    output = encrypt_chats("--decrypt")

    assert output.startswith("decrypted chat_sessions 1, chat_messages 2")
    assert b"Nephrotic" in stored_bytes()
    stored = raw_documents(ChatSession)[0]
    assert "nephrot" in stored["search_terms"]
    assert selectors.get_session(user_id=session.user_id, session_id=session.session_id).title == (
        "Nephrotic syndrome diary"
    )


def test_a_killed_run_resumes_and_finishes_verified(keys: dict[str, str], tmp_path: Path) -> None:
    sessions = [session_with_messages(messages=6) for _ in range(3)]
    before = [conversation(session) for session in sessions]
    run = Background(
        [sys.executable, "manage.py", "encrypt_chats", "--batch-size", "1", "--throttle", "0.2"],
        child_env(**keys),
        tmp_path / "encrypt.log",
    )
    progress = store.database()[PROGRESS]
    started = poll(
        lambda: (progress.find_one({"_id": "encrypt"}) or {}).get("collection") == "chat_messages",
        timeout=120,
    )
    run.kill(signal.SIGKILL)
    assert started, (tmp_path / "encrypt.log").read_text()
    halfway = [m["content"] for m in raw_documents(ChatMessage)]
    assert any(isinstance(content, str) for content in halfway)  # killed before the end

    output = encrypt_chats()

    assert "(resumed)" in output
    assert b"of the session" not in stored_bytes()
    with override_settings(CHAT_ENCRYPTION="on"):
        assert [conversation(session) for session in sessions] == before
    assert progress.find_one({"_id": "encrypt"}) is None
