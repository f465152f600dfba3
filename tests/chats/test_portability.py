"""Issue 21: every export Medibot produces imports back (``migrate_chats --source medibot``) exactly.

A conversation is compared as a *document*: the session's public fields and every message's, its
vote and token usage, without the ObjectIds and the import provenance that differ by design.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chats import backups, exporters, selectors, services, store
from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage
from chats.responders.base import Reply
from tests.chats.factories import exchange
from tests.chats.importer_support import migrate_chats
from tests.factories import make_user, token_for

pytestmark = [
    pytest.mark.django_db(databases=["default", "chats"], transaction=True),
    pytest.mark.usefixtures("fresh_migration_collections"),
]


@pytest.fixture
def client_for_user() -> Any:
    def client(user: User) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return api

    return client


def rich_session(user: User, *, title: str = "Blood pressure ☕ Grüße") -> ChatSession:
    """A session with everything an export must carry: tags, metadata, citations, attachments,
    a model, a vote with its reason, and token usage with a cost."""
    session = services.start_session(
        user_id=user.pk, title=title, tags=["bp", "größe"], metadata={"source": "web", "n": [1, 2]}
    )
    _question, answer, _usage = exchange(
        session=session,
        user_content="Is 135/85 high? 🩺",
        reply=Reply(
            content="It is *high-normal*.",
            model="gpt-4o-mini",
            prompt_tokens=120,
            completion_tokens=48,
            cost=Decimal("0.00012345"),
            source_documents=[{"title": "ESC 2024", "page": 7, "url": "https://example.test/esc"}],
            metadata={"ehr_record_ids": [3, 4]},
        ),
    )
    services.append_message(
        session=session,
        role="user",
        content="Here is my log",
        attachments=[{"type": "pdf", "name": "log.pdf", "bytes": 2048}],
        parent_message_id=answer.message_id,
    )
    services.vote(message=answer, user_id=user.pk, vote_type="down", reason="too short")
    return ChatSession.objects.get(pk=session.pk)


def document(user_id: int, session_id: str) -> dict[str, Any]:
    """The conversation as stored, every branch included, and as the user sees it (``shown``):
    comparable across stores and accounts."""
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    messages = list(selectors.iter_every_message(session=session))
    votes = {v.message_id: v for v in MessageVote.objects.filter(user_id=user_id, session_id=session.pk)}
    usage = {u.message_id: u for u in TokenUsage.objects.filter(user_id=user_id, session_id=session.pk)}
    meta = {key: value for key, value in session.metadata.items() if key != "import"}
    return {
        "session": (
            session.session_id,
            session.title,
            session.channel,
            list(session.tags),
            meta,
            session.message_count,
            session.created_at,
            session.active_branch,
            session.branches,
        ),
        "shown": [m.message_id for m in selectors.iter_session_messages(session=session)],
        "messages": [
            (
                m.message_id,
                m.branch,
                m.order,
                m.role,
                m.content,
                m.status,
                m.model,
                m.source_documents,
                m.agent_steps,
                m.attachments,
                {k: v for k, v in m.metadata.items() if k != "import"},
                m.parent_message_id,
                m.content_hash,
                m.created_at,
                m.vote,
                (votes[m.pk].vote_type, votes[m.pk].reason) if m.pk in votes else None,
                (
                    usage[m.pk].model,
                    usage[m.pk].prompt_tokens,
                    usage[m.pk].completion_tokens,
                    usage[m.pk].total_tokens,
                    Decimal(str(usage[m.pk].cost)),
                )
                if m.pk in usage
                else None,
            )
            for m in messages
        ],
    }


def snapshot() -> dict[str, list[dict[str, Any]]]:
    database = store.database()
    return {
        name: sorted(database[name].find({}), key=lambda d: str(d["_id"]))
        for name in ("chat_sessions", "chat_messages", "chat_message_votes", "chat_token_usage")
    }


def write_zip(user: User, path: Path) -> Path:
    path.write_bytes(exporters.zip_archive(user.pk).read())
    return path


# --- the bug of the issue: the export-all zip could not be imported --------------------------------


def test_the_export_all_zip_imports_back_with_ids_votes_and_usage(tmp_path: Path) -> None:
    alice = make_user(username="alice-zip")
    session = rich_session(alice)
    before = document(alice.pk, session.session_id)
    export = write_zip(alice, tmp_path / "medibot-chats.zip")
    services.delete_session_permanently(session=session)

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "alice-zip")

    assert result.code == 0, result.out + result.err
    assert "read 3 rows = inserted 3 + already present 0 + quarantined 0" in result.out
    assert document(alice.pk, session.session_id) == before


def test_an_unzipped_export_under_the_json_source_says_why_each_row_is_quarantined(tmp_path: Path) -> None:
    alice = make_user(username="alice-unzipped")
    rich_session(alice)
    with zipfile.ZipFile(write_zip(alice, tmp_path / "export.zip")) as archive:
        archive.extractall(tmp_path / "unzipped")

    result = migrate_chats("--source", "json", "--path", str(tmp_path / "unzipped"), "--dry-run")

    assert result.code == 2
    assert "Medibot export, no owner: use --source medibot --user NAME" in result.out
    assert "manifest.json" not in result.out


def test_a_second_import_changes_nothing(tmp_path: Path) -> None:
    alice = make_user(username="alice-twice")
    rich_session(alice)
    export = write_zip(alice, tmp_path / "export.zip")
    bob = make_user(username="bob-twice")
    assert migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-twice").code == 0
    first = snapshot()

    again = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-twice", "--restart")

    assert again.code == 0, again.out + again.err
    assert "inserted 0 + already present 3" in again.out
    assert snapshot() == first
    assert bob.pk != alice.pk


def test_a_tampered_zip_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    alice = make_user(username="alice-tamper")
    session = rich_session(alice)
    export = write_zip(alice, tmp_path / "export.zip")
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(export) as original, zipfile.ZipFile(tampered, "w") as copy:
        for item in original.infolist():
            data = original.read(item)
            if item.filename.startswith("sessions/"):
                data = data.replace(b"135/85", b"185/85")
            copy.writestr(item, data)
    make_user(username="bob-tamper")
    before = snapshot()

    result = migrate_chats("--source", "medibot", "--path", str(tampered), "--user", "bob-tamper")

    assert result.code == 1
    assert f"sessions/{session.session_id}.json does not match its SHA-256 in manifest.json" in result.err
    assert snapshot() == before


def test_the_ndjson_export_moves_every_conversation_to_a_mapped_account(tmp_path: Path) -> None:
    alice = make_user(username="alice-nd")
    first = rich_session(alice)
    second = rich_session(alice, title="Second")
    export = tmp_path / "medibot-chats.ndjson"
    export.write_text("".join(exporters.ndjson_lines(alice.pk)))
    bob = make_user(username="bob-nd")

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-nd")

    assert result.code == 0, result.out + result.err
    for session in (first, second):
        assert document(bob.pk, session.session_id) == document(alice.pk, session.session_id)


def test_a_per_session_json_export_imports_into_another_account(tmp_path: Path) -> None:
    alice = make_user(username="alice-one")
    session = rich_session(alice)
    export = tmp_path / exporters.export_filename(session, "json")
    export.write_text("".join(exporters.render_session(session, "json")))
    bob = make_user(username="bob-one")

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-one")

    assert result.code == 0, result.out + result.err
    assert document(bob.pk, session.session_id) == document(alice.pk, session.session_id)


def test_the_nightly_backup_restores_through_a_user_map_after_checking_its_manifests(tmp_path: Path) -> None:
    alice = make_user(username="alice-backup")
    session = rich_session(alice)
    backups.backup_changed_sessions(directory=str(tmp_path))
    carol = make_user(username="carol-backup")
    user_map = tmp_path.parent / "users.csv"
    user_map.write_text(f"{alice.pk},carol-backup\n")

    result = migrate_chats("--source", "medibot", "--path", str(tmp_path), "--user-map", str(user_map))

    assert result.code == 0, result.out + result.err
    assert document(carol.pk, session.session_id) == document(alice.pk, session.session_id)


def test_a_backup_file_changed_after_its_manifest_is_refused(tmp_path: Path) -> None:
    alice = make_user(username="alice-badbackup")
    session = rich_session(alice)
    backups.backup_changed_sessions(directory=str(tmp_path))
    services.delete_session_permanently(session=session)
    path = tmp_path / str(alice.pk) / f"{session.session_id}.json"
    path.write_bytes(path.read_bytes().replace(b"too short", b"too long!"))
    before = snapshot()

    result = migrate_chats("--source", "medibot", "--path", str(tmp_path))

    assert result.code == 1
    assert f"{alice.pk}/{session.session_id}.json does not match its SHA-256" in result.err
    assert snapshot() == before


def test_a_zip_without_a_manifest_is_refused(tmp_path: Path) -> None:
    make_user(username="alice-nomanifest")
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("sessions/x.json", json.dumps({"data": {"session": {}, "messages": []}}))

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "alice-nomanifest")

    assert (result.code, "no manifest.json" in result.err) == (1, True)


def test_medibot_sources_need_an_owner_for_single_user_exports(tmp_path: Path) -> None:
    export = tmp_path / "medibot-chats.ndjson"
    export.write_text("")

    result = migrate_chats("--source", "medibot", "--path", str(export))

    assert (result.code, "needs --user" in result.err) == (1, True)


def test_dry_run_and_verify_of_a_zip_say_what_would_happen_and_that_it_matches(tmp_path: Path) -> None:
    alice = make_user(username="alice-verify")
    rich_session(alice)
    export = write_zip(alice, tmp_path / "export.zip")
    make_user(username="bob-verify")

    dry = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-verify", "--dry-run")
    migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-verify")
    verified = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-verify", "--verify")

    assert "would read 3 rows = insert 3" in dry.out
    assert verified.code == 0, verified.out
    assert "0 mismatches" in verified.out


def test_export_file_hash_is_the_manifest_hash(tmp_path: Path) -> None:
    alice = make_user(username="alice-hash")
    session = rich_session(alice)
    with zipfile.ZipFile(write_zip(alice, tmp_path / "export.zip")) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        data = archive.read(f"sessions/{session.session_id}.json")
    assert manifest["files"] == [
        {"name": f"sessions/{session.session_id}.json", "sha256": hashlib.sha256(data).hexdigest()}
    ]
    exported = json.loads(data)["data"]["messages"][1]
    assert (exported["vote"]["vote_type"], exported["usage"]["prompt_tokens"]) == ("down", 120)
    assert ChatMessage.objects.filter(user_id=alice.pk).count() == 3


# --- formats people can use elsewhere ------------------------------------------------------------


def test_the_clinician_markdown_has_title_dates_roles_text_and_sources(client_for_user: Any) -> None:
    alice = make_user(username="alice-md")
    session = rich_session(alice)

    response = client_for_user(alice).get(f"/api/chat/sessions/{session.session_id}/export?format=md")

    assert response.status_code == 200
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("# Blood pressure ☕ Grüße\n")
    assert f"- Started: {session.created_at.isoformat()}" in body
    assert "### Patient — " in body
    assert "### Medibot (gpt-4o-mini) — " in body
    assert "It is *high-normal*." in body
    assert "1. ESC 2024, p. 7, https://example.test/esc" in body
    assert "- Attachment: log.pdf" in body


def test_the_pdf_export_is_a_titled_pdf_that_grows_with_the_conversation(client_for_user: Any) -> None:
    alice = make_user(username="alice-pdf")
    session = rich_session(alice, title="Blood pressure review")
    short = client_for_user(alice).get(f"/api/chat/sessions/{session.session_id}/export?format=pdf")
    first = b"".join(short.streaming_content)
    for number in range(60):
        services.append_message(session=session, role="user", content=f"Reading {number}: 128/82 — ünïcödé ✓")

    longer = b"".join(
        client_for_user(alice)
        .get(f"/api/chat/sessions/{session.session_id}/export?format=pdf")
        .streaming_content
    )

    assert (short.status_code, short["Content-Type"]) == (200, "application/pdf")
    assert f'filename="medibot-chat-{session.session_id}.pdf"' in short["Content-Disposition"]
    assert first.startswith(b"%PDF-")
    assert first.rstrip().endswith(b"%%EOF")
    assert b"(Blood pressure review)" in first
    assert longer.count(b"/Type /Page\n") > first.count(b"/Type /Page\n") >= 1


def test_another_users_session_is_404_in_every_format(client_for_user: Any) -> None:
    alice, mallory = make_user(username="alice-404"), make_user(username="mallory-404")
    session = rich_session(alice)

    for fmt in exporters.SESSION_FORMATS:
        response = client_for_user(mallory).get(
            f"/api/chat/sessions/{session.session_id}/export?format={fmt}"
        )
        assert response.status_code == 404, fmt


def test_the_export_all_zip_can_add_markdown_and_pdf_and_still_imports(
    client_for_user: Any, tmp_path: Path
) -> None:
    alice = make_user(username="alice-zip-extra")
    session = rich_session(alice)
    response = client_for_user(alice).get("/api/chat/export?format=zip&include=md,pdf")
    export = tmp_path / "export.zip"
    export.write_bytes(b"".join(response.streaming_content))
    with zipfile.ZipFile(export) as archive:
        listed = {entry["name"] for entry in json.loads(archive.read("manifest.json"))["files"]}
    bob = make_user(username="bob-zip-extra")

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-zip-extra")

    assert listed == {
        f"sessions/{session.session_id}.json",
        f"markdown/{session.session_id}.md",
        f"pdf/{session.session_id}.pdf",
    }
    assert result.code == 0, result.err
    assert document(bob.pk, session.session_id) == document(alice.pk, session.session_id)
    assert client_for_user(alice).get("/api/chat/export?format=zip&include=exe").status_code == 400


def test_the_open_webui_export_imports_into_open_webui_shape_and_back(
    client_for_user: Any, tmp_path: Path
) -> None:
    alice = make_user(username="alice-owui-out")
    session = rich_session(alice)
    response = client_for_user(alice).get("/api/chat/export?format=openwebui")
    export = tmp_path / "medibot-chats.openwebui.json"
    export.write_bytes(b"".join(response.streaming_content))
    chats = json.loads(export.read_text())
    history = chats[0]["chat"]["history"]
    bob = make_user(username="bob-owui-in")

    result = migrate_chats("--source", "openwebui", "--path", str(export), "--user", "bob-owui-in")

    assert [m["role"] for m in history["messages"].values()] == ["user", "assistant", "user"]
    assert history["currentId"] == list(history["messages"])[-1]
    assert result.code == 0, result.err
    original = list(selectors.iter_session_messages(session=session))
    moved = list(
        selectors.iter_session_messages(
            session=selectors.get_session(user_id=bob.pk, session_id=session.session_id)
        )
    )
    assert [(m.message_id, m.order, m.role, m.content, m.model, m.source_documents) for m in moved] == [
        (m.message_id, m.order, m.role, m.content, m.model, m.source_documents) for m in original
    ]
    assert [m.created_at.replace(microsecond=0) for m in moved] == [
        m.created_at.replace(microsecond=0) for m in original
    ]


def test_resuming_a_medibot_import_from_every_checkpoint_reads_exactly_the_rest(tmp_path: Path) -> None:
    from chats.importers.records import MessageRecord
    from chats.importers.sources import open_source

    alice = make_user(username="alice-resume")
    rich_session(alice)
    rich_session(alice, title="second")
    (tmp_path / "all.ndjson").write_text("".join(exporters.ndjson_lines(alice.pk)))
    write_zip(alice, tmp_path / "all.zip")
    backups.backup_changed_sessions(directory=str(tmp_path / "backup"))

    def keys(batches: Any) -> list[tuple[Any, ...]]:
        return [
            (r.unit, r.order, r.message_id) if isinstance(r, MessageRecord) else (type(r).__name__, r.unit)
            for batch in batches
            for r in batch.records
        ]

    for name, user in (("all.ndjson", "alice-resume"), ("all.zip", "alice-resume"), ("backup", None)):
        source = open_source("medibot", path=str(tmp_path / name), username=user)
        batches = list(source.batches(None, batch_size=1))
        everything = keys(batches)
        assert len([key for key in everything if len(key) == 3]) == 6, name
        for number, batch in enumerate(batches):
            rest = keys(source.batches(batch.checkpoint, batch_size=1))
            assert rest == everything[len(keys(batches[: number + 1])) :], (name, number)


# --- branches (issue 21): every branch leaves and comes back ----------------------------------------


def branched_session(user: User) -> tuple[ChatSession, dict[str, ChatMessage]]:
    """q1 → a1 → q2 → a2 on branch 0; a1 regenerated (branch 1); q1 edited and answered (branch 2);
    then the regenerated answer shown again (active branch 1)."""
    session = services.start_session(user_id=user.pk, title="Branches")
    shown: dict[str, ChatMessage] = {}
    for number in (1, 2):
        question = services.append_message(session=session, role="user", content=f"q{number}")
        answer, _ = services.record_reply(
            session=session, reply=Reply(content=f"a{number}"), parent_message_id=question.message_id
        )
        shown[f"q{number}"], shown[f"a{number}"] = question, answer
    session = ChatSession.objects.get(pk=session.pk)
    shown["a1'"], _ = services.record_reply(
        session=session,
        reply=Reply(content="a1 again"),
        parent_message_id=shown["q1"].message_id,
        fork_of=shown["a1"],
    )
    session = ChatSession.objects.get(pk=session.pk)
    shown["q1'"] = services.append_message(
        session=session, role="user", content="q1 edited", fork_of=shown["q1"]
    )
    services.record_reply(
        session=session, reply=Reply(content="a1 edited"), parent_message_id=shown["q1'"].message_id
    )
    services.switch_branch(session=ChatSession.objects.get(pk=session.pk), message=shown["a1'"])
    return ChatSession.objects.get(pk=session.pk), shown


def test_a_branched_conversation_round_trips_through_the_medibot_zip_exactly(tmp_path: Path) -> None:
    alice, bob = make_user(username="alice-branched-zip"), make_user(username="bob-branched-zip")
    session, _ = branched_session(alice)
    export = write_zip(alice, tmp_path / "medibot-chats.zip")

    result = migrate_chats("--source", "medibot", "--path", str(export), "--user", "bob-branched-zip")

    assert result.code == 0, result.out + result.err
    assert "inserted 7 +" in result.out
    copy = document(bob.pk, session.session_id)
    assert copy == document(alice.pk, session.session_id)
    assert (copy["session"][-2], len(copy["session"][-1]), copy["session"][5]) == (1, 2, 7)


def test_a_branched_conversation_leaves_as_open_webui_and_comes_back_with_the_same_leaf_shown(
    tmp_path: Path,
) -> None:
    alice, bob = make_user(username="alice-branched-owui"), make_user(username="bob-branched-owui")
    session, shown = branched_session(alice)
    export = tmp_path / "openwebui.json"
    export.write_text("".join(exporters.open_webui_lines(alice.pk)))
    chat = json.loads(export.read_text())[0]["chat"]

    result = migrate_chats("--source", "openwebui", "--path", str(export), "--user", "bob-branched-owui")

    assert len(chat["history"]["messages"]) == 7
    assert chat["history"]["currentId"] == shown["a1'"].message_id
    assert [m["id"] for m in chat["messages"]] == [shown["q1"].message_id, shown["a1'"].message_id]
    assert result.code == 0, result.out + result.err
    copy = selectors.get_session(user_id=bob.pk, session_id=session.session_id)
    assert copy.message_count == 7
    assert [m.message_id for m in selectors.iter_session_messages(session=copy)] == [
        shown["q1"].message_id,
        shown["a1'"].message_id,
    ]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(bob)}")
    versions = client.get(f"/api/chat/messages/{shown['a1'].message_id}/siblings")
    assert [m["message_id"] for m in versions.json()["results"]] == [
        shown["a1"].message_id,
        shown["a1'"].message_id,
    ]


def test_the_nightly_backup_of_a_branched_conversation_restores_every_branch_through_the_json_source(
    tmp_path: Path,
) -> None:
    alice = make_user(username="alice-branched-backup")
    session, _ = branched_session(alice)
    before = document(alice.pk, session.session_id)
    backups.backup_changed_sessions(directory=str(tmp_path))
    services.delete_session_permanently(session=session)

    result = migrate_chats("--source", "json", "--path", str(tmp_path))

    assert result.code == 0, result.out + result.err
    assert "inserted 7 +" in result.out
    assert document(alice.pk, session.session_id) == before
