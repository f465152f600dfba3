"""``migrate_chats`` from the chat products people move from: Claude, Open WebUI, LibreChat (issue 21).

Fixtures in ``importer_fixtures/`` follow each product's documented export shape (each importer
module's docstring names where the shape comes from):

* ``claude_conversations.json``: Claude.ai's data export (``conversations.json``: ``chat_messages``
  with ``sender``/``text``/``content`` blocks/``attachments``/``files``; ``parent_message_uuid``
  and ``current_leaf_message_uuid`` in newer exports).
* ``open_webui_export.json``: Open WebUI's "Export chats" (``chat.history.messages`` tree,
  ``currentId``, epoch-second timestamps, ``meta.tags``).
* ``librechat_export.json``: LibreChat's JSON export (``messages`` linked by ``parentMessageId``,
  content parts with ``text.value``, ``isCreatedByUser``, ``error``).

Each carries the edge cases: branches, an empty conversation, tool/system/unknown-role messages,
attachments, non-text content blocks, unicode and malformed rows with their quarantine reasons.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from accounts.models import User
from chats import selectors, store
from chats.importers import runs
from chats.importers.records import MessageRecord
from chats.importers.sources import open_source
from chats.models import ChatMessage, ChatSession
from tests.chats.conftest import client_for
from tests.chats.importer_support import FIXTURES, Outcome, migrate_chats
from tests.factories import make_user
from tests.support.processes import ROOT, MongoServer, child_env

pytestmark = [
    pytest.mark.django_db(databases=["default", "chats"], transaction=True),
    pytest.mark.usefixtures("fresh_migration_collections"),
]


def thread(user: User, session_id: str) -> list[ChatMessage]:
    return list(
        selectors.iter_session_messages(session=selectors.get_session(user_id=user.pk, session_id=session_id))
    )


def reasons() -> dict[str, str]:
    return {entry["key"]: entry["reason"] for entry in runs.quarantine_collection().find({})}


def snapshot() -> dict[str, list[dict[str, Any]]]:
    database = store.database()
    return {
        name: sorted(database[name].find({}), key=lambda d: str(d["_id"]))
        for name in ("chat_sessions", "chat_messages")
    }


# --- Claude ----------------------------------------------------------------------------------------


def test_claude_export_keeps_blocks_citations_attachments_and_the_current_leaf() -> None:
    alice = make_user(username="alice-claude")

    result = migrate_chats(
        "--source", "claude", "--path", str(FIXTURES / "claude_conversations.json"), "--user", "alice-claude"
    )

    assert result.code == 2, result.err
    assert "read 12 rows = inserted 9 + already present 0 + quarantined 3" in result.out
    migraine = thread(alice, "5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5d")
    assert [(m.order, m.role, m.message_id[-2:]) for m in migraine] == [
        (1, "user", "01"),
        (2, "assistant", "02"),
        (3, "user", "03"),
        (4, "assistant", "04"),
    ]
    assert migraine[0].content == "Do coffee and red wine trigger migraines? 🤕"
    assert migraine[0].created_at == datetime(2025, 2, 3, 8, 0, 1, 500000, tzinfo=UTC)
    answer = migraine[1]
    assert answer.content == "Both can: caffeine withdrawal and red wine are common triggers."
    assert answer.source_documents == [{"url": "https://example.test/migraine", "title": "Migraine triggers"}]
    assert [step["type"] for step in answer.agent_steps] == ["thinking", "tool_use", "tool_result"]
    assert answer.parent_message_id == migraine[0].message_id
    assert migraine[2].content == "[attachment]"
    assert [a["name"] for a in migraine[2].attachments] == ["headache-diary.txt", "scan.png"]
    assert migraine[2].attachments[0]["extracted_content"] == "Mon: 3/10 after espresso"
    session = selectors.get_session(user_id=alice.pk, session_id="5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5d")
    assert session.title == "Migraine triggers — كافيين 咖啡因"
    assert session.metadata["claude"] == {
        "summary": "Asked about migraine triggers.",
        "branches": 1,
        "active_branch": 0,
    }


def test_claude_branches_follow_the_current_leaf_not_the_latest_message() -> None:
    alice = make_user(username="alice-claude-tree")

    migrate_chats(
        "--source",
        "claude",
        "--path",
        str(FIXTURES / "claude_conversations.json"),
        "--user",
        "alice-claude-tree",
    )

    knee = thread(alice, "5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5e")
    assert [m.content for m in knee] == [
        "My knee hurts when climbing stairs.",
        "That often points to the kneecap (patellofemoral pain).",
    ]
    session = selectors.get_session(user_id=alice.pk, session_id="5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5e")
    assert (session.metadata["claude"]["branches"], session.metadata["claude"]["active_branch"]) == (2, 0)


def test_claude_empty_conversations_become_empty_sessions_and_bad_rows_are_quarantined_with_reasons() -> None:
    alice = make_user(username="alice-claude-odd")

    migrate_chats(
        "--source",
        "claude",
        "--path",
        str(FIXTURES / "claude_conversations.json"),
        "--user",
        "alice-claude-odd",
    )

    empty = selectors.get_session(user_id=alice.pk, session_id="5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5f")
    assert (empty.title, empty.message_count) == ("Empty chat", 0)
    assert reasons() == {
        "5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c60:33333333-cccc-4ccc-8ccc-000000000002": "unknown role",
        "5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c60:33333333-cccc-4ccc-8ccc-000000000003": "empty message",
        "claude_conversations.json#4": "unparseable JSON",
    }


def test_a_zipped_claude_export_imports_the_same_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    make_user(username="alice-claude-zip")
    export = tmp_path / "data-2025-02-07.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("conversations.json", (FIXTURES / "claude_conversations.json").read_text())
        archive.writestr("users.json", "[]")
        archive.writestr("projects.json", "[]")
    args = ("--source", "claude", "--path", str(export), "--user", "alice-claude-zip", "--allow-quarantine")
    assert "inserted 9" in migrate_chats(*args).out
    first = snapshot()

    again = migrate_chats(*args, "--restart")

    assert "inserted 0 + already present 9 + quarantined 3" in again.out
    assert snapshot() == first


def test_claude_verify_and_dry_run() -> None:
    make_user(username="alice-claude-verify")
    args = (
        "--source",
        "claude",
        "--path",
        str(FIXTURES / "claude_conversations.json"),
        "--user",
        "alice-claude-verify",
    )

    dry = migrate_chats(*args, "--dry-run")
    assert ChatSession.objects.count() == 0
    migrate_chats(*args)
    verified = migrate_chats(*args, "--verify")

    assert "would read 12 rows = insert 9 + already present 0 + quarantine 3" in dry.out
    assert "unknown role" in dry.out
    assert verified.code == 0, verified.out
    assert "0 mismatches" in verified.out


def test_claude_rollback_removes_what_the_run_inserted() -> None:
    make_user(username="alice-claude-rollback")
    migrate_chats(
        "--source",
        "claude",
        "--path",
        str(FIXTURES / "claude_conversations.json"),
        "--user",
        "alice-claude-rollback",
    )
    run_id = runs.list_runs()[0].run_id

    result = migrate_chats("--rollback", run_id)

    assert "deleted 8 messages and 4 sessions" in result.out
    assert ChatMessage.objects.count() == 0


# --- Open WebUI ------------------------------------------------------------------------------------


def test_open_webui_export_follows_current_id_and_keeps_files_sources_tags_and_failures() -> None:
    alice = make_user(username="alice-owui")

    result = migrate_chats(
        "--source", "openwebui", "--path", str(FIXTURES / "open_webui_export.json"), "--user", "alice-owui"
    )

    assert result.code == 2, result.err
    assert "read 9 rows = inserted 7 + already present 0 + quarantined 2" in result.out
    chat = thread(alice, "7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c3")
    assert [(m.order, m.role, m.content) for m in chat] == [
        (1, "user", "Ist 140/90 zu hoch?"),
        (2, "assistant", "Ja, das ist Hypertonie Grad 1."),
        (3, "user", "Was kann ich tun?"),
        (4, "assistant", "(no reply)"),
    ]
    assert chat[0].created_at == datetime.fromtimestamp(1738573200, tz=UTC)
    assert chat[0].attachments == [{"type": "file", "id": "file-1", "name": "werte.pdf", "size": 1234}]
    assert chat[1].model == "llama3.1:8b"
    assert chat[1].source_documents == [{"source": {"name": "ESH 2023"}, "document": ["…"]}]
    assert chat[1].metadata["usage"] == {"prompt_tokens": 31, "completion_tokens": 12}
    assert (chat[3].status, chat[3].error_info) == ("failed", {"open_webui": {"content": "timeout"}})
    session = selectors.get_session(user_id=alice.pk, session_id="7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c3")
    assert (session.title, session.tags) == ("Blutdruck 🩺", ["health", "bp"])
    assert session.metadata["openwebui"] == {"models": ["llama3.1:8b"], "branches": 2, "active_branch": 0}


def test_open_webui_empty_archived_chats_system_prompts_and_bad_rows() -> None:
    alice = make_user(username="alice-owui-odd")

    migrate_chats(
        "--source",
        "openwebui",
        "--path",
        str(FIXTURES / "open_webui_export.json"),
        "--user",
        "alice-owui-odd",
    )

    empty = ChatSession.objects.get(user_id=alice.pk, session_id="7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c4")
    assert (empty.message_count, empty.is_active) == (0, False)
    tool = thread(alice, "7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c5")
    assert [(m.role, m.content) for m in tool] == [("system", "You are a careful assistant.")]
    assert reasons() == {
        "7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c5:t-2": "unknown role",
        "open_webui_export.json#3": "unparseable JSON",
    }


# --- LibreChat -------------------------------------------------------------------------------------


def librechat_tree(flat: dict[str, Any]) -> dict[str, Any]:
    """The same conversation as LibreChat's recursive export writes it (``messagesTree``)."""
    nodes = {m["messageId"]: {**m, "children": []} for m in flat["messages"]}
    roots: list[dict[str, Any]] = []
    for message in nodes.values():
        parent = nodes.get(message["parentMessageId"])
        (parent["children"] if parent else roots).append(message)
    tree = {key: value for key, value in flat.items() if key != "messages"}
    return {**tree, "recursive": True, "messagesTree": roots}


def test_librechat_export_takes_the_latest_leaf_and_counts_every_branch() -> None:
    alice = make_user(username="alice-libre")

    result = migrate_chats(
        "--source", "librechat", "--path", str(FIXTURES / "librechat_export.json"), "--user", "alice-libre"
    )

    assert result.code == 2, result.err
    assert "read 6 rows = inserted 5 + already present 0 + quarantined 1" in result.out
    chat = thread(alice, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
    assert [(m.order, m.role, m.message_id[-1]) for m in chat] == [(1, "user", "3"), (2, "assistant", "4")]
    assert chat[0].attachments == [
        {"type": "file", "file_id": "f-9", "filename": "weight.png", "mime_type": "image/png", "bytes": 5120}
    ]
    assert chat[1].created_at == datetime(2025, 3, 1, 12, 5, 3, tzinfo=UTC)
    session = selectors.get_session(user_id=alice.pk, session_id="9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
    assert session.metadata["librechat"] == {"endpoint": "openAI", "branches": 3, "active_branch": 2}
    assert reasons() == {
        "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a:aaaaaaaa-0000-4000-8000-000000000006": "unknown role"
    }


def test_librechat_recursive_export_gives_the_same_conversation(tmp_path: Path) -> None:
    flat_user, tree_user = make_user(username="alice-libre-flat"), make_user(username="alice-libre-tree")
    recursive = tmp_path / "recursive.json"
    recursive.write_text(
        json.dumps(librechat_tree(json.loads((FIXTURES / "librechat_export.json").read_text())))
    )

    migrate_chats(
        "--source",
        "librechat",
        "--path",
        str(FIXTURES / "librechat_export.json"),
        "--user",
        "alice-libre-flat",
    )
    migrate_chats("--source", "librechat", "--path", str(recursive), "--user", "alice-libre-tree")

    def shape(user: User) -> list[tuple[Any, ...]]:
        return [
            (m.message_id, m.order, m.role, m.content, m.created_at)
            for m in thread(user, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")
        ]

    assert shape(flat_user) == shape(tree_user)


def test_librechat_content_parts_and_tool_calls(tmp_path: Path) -> None:
    alice = make_user(username="alice-libre-parts")
    first_turn = json.loads((FIXTURES / "librechat_export.json").read_text())
    first_turn["messages"] = first_turn["messages"][:2]
    path = tmp_path / "first-turn.json"
    path.write_text(json.dumps(first_turn))

    migrate_chats("--source", "librechat", "--path", str(path), "--user", "alice-libre-parts")

    answer = thread(alice, "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a")[1]
    assert answer.content == "Usually 1,200 mg without a doctor's advice."
    assert answer.agent_steps == [{"type": "tool_call", "tool_call": {"name": "lookup", "args": "{}"}}]
    assert answer.metadata["tokenCount"] == 14


def test_the_tree_sources_need_an_account() -> None:
    for kind, fixture in (("claude", "claude_conversations.json"), ("openwebui", "open_webui_export.json")):
        result = migrate_chats("--source", kind, "--path", str(FIXTURES / fixture))
        assert (result.code, f"--source {kind} needs --user" in result.err) == (1, True)


# --- a large Claude export: bounded memory, progress ------------------------------------------------

CONVERSATIONS = 1000
MESSAGES = 10
FILLER = "Blood pressure diary entry, ünïcödé ✓. " * 60  # about 2.4 KB a message


def write_large_claude_export(path: Path) -> int:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as out:
        out.write("[")
        for number in range(CONVERSATIONS):
            moment = start + timedelta(hours=number)
            conversation = {
                "uuid": f"00000000-0000-4000-8000-{number:012d}",
                "name": f"Conversation {number}",
                "created_at": moment.isoformat(),
                "updated_at": moment.isoformat(),
                "chat_messages": [
                    {
                        "uuid": f"00000000-0000-4000-9000-{number * MESSAGES + index:012d}",
                        "sender": "human" if index % 2 == 0 else "assistant",
                        "text": f"{index}: {FILLER}",
                        "content": [],
                        "created_at": (moment + timedelta(seconds=index)).isoformat(),
                        "attachments": [],
                        "files": [],
                    }
                    for index in range(MESSAGES)
                ],
            }
            out.write(("," if number else "") + json.dumps(conversation))
        out.write("]")
    return path.stat().st_size


# VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork and exec, so a child of
# this (large) test process would report at least the parent's size.
HIGH_WATER = "int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])"
PEAK = (
    "import sys\n"
    "from django.core.management import execute_from_command_line\n"
    "try:\n"
    "    execute_from_command_line(['manage.py', *sys.argv[1:]])\n"
    "finally:\n"
    f"    print('PEAK_KB', {HIGH_WATER}, file=sys.stderr)\n"
)
WHOLE_FILE = (
    "import json, sys\n"
    f"before = {HIGH_WATER}\n"
    "json.load(open(sys.argv[1], encoding='utf-8'))\n"
    f"print('GROWTH_KB', {HIGH_WATER} - before)\n"
)


def peak_kb(env: dict[str, str], *args: str) -> tuple[int, subprocess.CompletedProcess[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    line = next((line for line in done.stderr.splitlines() if line.startswith("PEAK_KB")), None)
    assert line is not None, done.stderr[-2000:]
    return int(line.split()[1]), done


@pytest.mark.slow
def test_a_1000_conversation_claude_export_imports_with_bounded_memory_and_progress(tmp_path: Path) -> None:
    """In a child process against its own SecantusDB (10,000 large messages stay out of the
    shared test store). The bound is checked against what reading the whole file would cost."""
    make_user(username="alice-claude-large")
    export = tmp_path / "conversations.json"
    size = write_large_claude_export(export)
    whole = subprocess.run(
        [sys.executable, "-c", WHOLE_FILE, str(export)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    whole_file_mb = int(whole.stdout.split()[1]) / 1024
    mongo = MongoServer(tmp_path / "mongo")
    mongo.start()
    try:
        env = child_env(MONGODB_URI=mongo.uri)
        _, migrated = peak_kb(env, "migrate", "--database", "chats", "--noinput")
        assert migrated.returncode == 0, migrated.stderr[-2000:]
        idle, _ = peak_kb(env, "migrate_chats", "--status")

        peak, done = peak_kb(
            env,
            *("migrate_chats", "--source", "claude", "--path", str(export), "--user", "alice-claude-large"),
            *("--batch-size", "500", "--progress-interval", "0.5"),
        )
    finally:
        mongo.stop()

    assert done.returncode == 0, done.stderr[-2000:]
    rows = CONVERSATIONS * MESSAGES
    assert f"read {rows} rows = inserted {rows}" in done.stdout
    assert f"{rows}/{rows} (100%)" in done.stderr
    growth_mb = max(peak - idle, 0) / 1024
    print(
        f"export {size / 2**20:.1f} MB (whole file in memory: +{whole_file_mb:.0f} MB); "
        f"migrate_chats peak {peak / 1024:.0f} MB, {growth_mb:.0f} MB over an idle manage.py"
    )
    assert whole_file_mb > 60
    assert growth_mb < 40, f"memory grew by {growth_mb:.0f} MB reading a {size / 2**20:.0f} MB export"


# --- ChatGPT through the same tree -----------------------------------------------------------------


def test_chatgpt_regenerations_are_branches_and_current_node_is_the_active_one() -> None:
    alice = make_user(username="alice-gpt-tree")

    migrate_chats(
        "--source",
        "chatgpt",
        "--path",
        str(FIXTURES / "chatgpt_conversations.json"),
        "--user",
        "alice-gpt-tree",
    )

    session = selectors.get_session(user_id=alice.pk, session_id="c1a2b3c4-1111-4222-8333-944455556666")
    assert session.metadata["chatgpt"] == {"default_model_slug": "gpt-4o", "branches": 2, "active_branch": 1}
    assert [m.message_id for m in thread(alice, session.session_id)] == ["n-question", "n-answer-2"]


# --- resume: from any checkpoint, the rest of the export exactly once -----------------------------


def record_keys(batches: Any) -> list[tuple[Any, ...]]:
    keys: list[tuple[Any, ...]] = []
    for batch in batches:
        for record in batch.records:
            if isinstance(record, MessageRecord):
                keys.append((record.unit, record.order, record.message_id, record.parent_message_id))
            else:
                keys.append((type(record).__name__, record.unit))
    return keys


@pytest.mark.parametrize(
    ("kind", "fixture"),
    [
        ("claude", "claude_conversations.json"),
        ("openwebui", "open_webui_export.json"),
        ("librechat", "librechat_export.json"),
        ("chatgpt", "chatgpt_conversations.json"),
    ],
)
def test_resuming_from_every_checkpoint_reads_exactly_the_rest(kind: str, fixture: str) -> None:
    make_user(username=f"alice-resume-{kind}")
    source = open_source(kind, path=str(FIXTURES / fixture), username=f"alice-resume-{kind}")
    batches = list(source.batches(None, batch_size=1))
    everything = record_keys(batches)

    for number, batch in enumerate(batches):
        rest = record_keys(source.batches(batch.checkpoint, batch_size=1))
        assert rest == everything[len(record_keys(batches[: number + 1])) :], (kind, number)


# --- every branch (issue 21): stored as the branch model numbers them ------------------------------

LIBRECHAT_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
OPEN_WEBUI_ID = "7a0b1c2d-3e4f-4a5b-8c6d-7e8f90a1b2c3"
CHATGPT_ID = "c1a2b3c4-1111-4222-8333-944455556666"
CLAUDE_KNEE_ID = "5c1e0a2b-7d3f-4a11-9b2c-0e1f2a3b4c5e"
SOURCES = [
    ("claude", "claude_conversations.json"),
    ("openwebui", "open_webui_export.json"),
    ("librechat", "librechat_export.json"),
    ("chatgpt", "chatgpt_conversations.json"),
]


def import_as(kind: str, fixture: str, username: str) -> Outcome:
    return migrate_chats("--source", kind, "--path", str(FIXTURES / fixture), "--user", username)


def stored(user: User, session_id: str) -> list[tuple[int, int, str, str]]:
    """Every stored message of a session as (branch, order, role, content), in (branch, order)."""
    session = selectors.get_session(user_id=user.pk, session_id=session_id)
    messages = ChatMessage.objects.filter(user_id=user.pk, session_id=session.pk)
    return sorted((m.branch, m.order, m.role, m.content) for m in messages)


def page_ids(client: Any, session_id: str) -> list[str]:
    response = client.get(f"/api/chat/sessions/{session_id}/messages")
    assert response.status_code == 200, response.content
    return [m["message_id"] for m in response.json()["results"]]


def test_librechat_stores_the_edited_question_and_regenerated_answer_as_branches() -> None:
    alice = make_user(username="alice-libre-branches")

    import_as("librechat", "librechat_export.json", "alice-libre-branches")

    session = selectors.get_session(user_id=alice.pk, session_id=LIBRECHAT_ID)
    ids = {m.branch * 10 + m.order: m.message_id for m in ChatMessage.objects.filter(user_id=alice.pk)}
    # q1 → a1 (branch 0); q1 edited (a second root: branch 1) → an earlier failed answer (branch 1),
    # regenerated (branch 2, the latest leaf: active).
    assert [row[:3] for row in stored(alice, LIBRECHAT_ID)] == [
        (0, 1, "user"),
        (0, 2, "assistant"),
        (1, 1, "user"),
        (1, 2, "assistant"),
        (2, 2, "assistant"),
    ]
    assert (session.message_count, session.active_branch) == (5, 2)
    assert session.branches == [
        {"id": 1, "parent": 0, "first": 1, "fork_message_id": "", "tip": 2},
        {"id": 2, "parent": 1, "first": 2, "fork_message_id": ids[11], "tip": 2},
    ]
    assert [ids[11][-1], ids[22][-1], ids[12][-1]] == ["3", "4", "5"]


def test_open_webui_regenerated_answer_is_a_branch_and_current_id_stays_shown() -> None:
    alice = make_user(username="alice-owui-branches")

    import_as("openwebui", "open_webui_export.json", "alice-owui-branches")

    session = selectors.get_session(user_id=alice.pk, session_id=OPEN_WEBUI_ID)
    assert [row[:3] for row in stored(alice, OPEN_WEBUI_ID)] == [
        (0, 1, "user"),
        (0, 2, "assistant"),
        (0, 3, "user"),
        (0, 4, "assistant"),
        (1, 2, "assistant"),
    ]
    question = ChatMessage.objects.get(user_id=alice.pk, session_id=session.pk, branch=0, order=1)
    assert (session.message_count, session.active_branch) == (5, 0)
    assert session.branches == [
        {"id": 1, "parent": 0, "first": 2, "fork_message_id": question.message_id, "tip": 2}
    ]
    assert [m.order for m in thread(alice, OPEN_WEBUI_ID)] == [1, 2, 3, 4]


def test_chatgpt_current_node_on_a_fork_is_the_page_and_the_other_answer_is_one_switch_away() -> None:
    alice = make_user(username="alice-gpt-branches")
    import_as("chatgpt", "chatgpt_conversations.json", "alice-gpt-branches")
    client = client_for(alice)

    assert page_ids(client, CHATGPT_ID) == ["n-question", "n-answer-2"]
    siblings = client.get("/api/chat/messages/n-answer-2/siblings").json()
    switched = client.post("/api/chat/messages/n-answer-1/activate")

    assert [m["message_id"] for m in siblings["results"]] == ["n-answer-1", "n-answer-2"]
    assert siblings["active_index"] == 2
    assert switched.status_code == 200, switched.content
    assert switched.json()["active_branch"] == 0
    assert page_ids(client, CHATGPT_ID) == ["n-question", "n-answer-1"]


def test_librechat_switching_to_the_original_question_on_an_imported_conversation() -> None:
    alice = make_user(username="alice-libre-switch")
    import_as("librechat", "librechat_export.json", "alice-libre-switch")
    client = client_for(alice)
    original = ChatMessage.objects.get(user_id=alice.pk, branch=0, order=1).message_id
    answer = ChatMessage.objects.get(user_id=alice.pk, branch=0, order=2).message_id

    assert [i[-1] for i in page_ids(client, LIBRECHAT_ID)] == ["3", "4"]
    response = client.post(f"/api/chat/messages/{original}/activate")

    assert response.status_code == 200, response.content
    assert page_ids(client, LIBRECHAT_ID) == [original, answer]
    session = client.get(f"/api/chat/sessions/{LIBRECHAT_ID}").json()
    assert (session["active_branch"], session["message_count"]) == (0, 5)


def test_claude_knee_keeps_both_answers_with_the_current_leaf_shown() -> None:
    alice = make_user(username="alice-claude-branches")

    import_as("claude", "claude_conversations.json", "alice-claude-branches")

    session = selectors.get_session(user_id=alice.pk, session_id=CLAUDE_KNEE_ID)
    assert [row[:2] for row in stored(alice, CLAUDE_KNEE_ID)] == [(0, 1), (0, 2), (1, 2)]
    assert (session.message_count, session.active_branch) == (3, 0)
    assert [m.content for m in thread(alice, CLAUDE_KNEE_ID)] == [
        "My knee hurts when climbing stairs.",
        "That often points to the kneecap (patellofemoral pain).",
    ]


@pytest.mark.parametrize(("kind", "fixture"), SOURCES)
def test_every_branch_verifies_and_a_second_import_changes_nothing(kind: str, fixture: str) -> None:
    make_user(username=f"alice-again-{kind}")
    import_as(kind, fixture, f"alice-again-{kind}")
    before = snapshot()

    again = import_as(kind, fixture, f"alice-again-{kind}")
    verified = migrate_chats(
        "--source", kind, "--path", str(FIXTURES / fixture), "--user", f"alice-again-{kind}", "--verify"
    )

    assert "inserted 0 +" in again.out, again.out
    assert snapshot() == before
    assert verified.code == 0, verified.out
    assert "0 mismatches" in verified.out


@pytest.mark.parametrize(("kind", "fixture"), SOURCES)
def test_verify_finds_a_missing_message_on_a_fork(kind: str, fixture: str) -> None:
    make_user(username=f"alice-fork-gone-{kind}")
    import_as(kind, fixture, f"alice-fork-gone-{kind}")

    ChatMessage.objects.filter(branch__gte=1).order_by("order").first().delete()  # type: ignore[union-attr]
    verified = migrate_chats(
        "--source", kind, "--path", str(FIXTURES / fixture), "--user", f"alice-fork-gone-{kind}", "--verify"
    )

    assert verified.code != 0
    assert "mismatch" in verified.out


def test_rollback_of_a_forked_import_keeps_the_live_messages_readable_on_their_branch() -> None:
    alice = make_user(username="alice-libre-rollback")
    import_as("librechat", "librechat_export.json", "alice-libre-rollback")
    run_id = runs.list_runs()[0].run_id
    client = client_for(alice)
    sent = client.post(
        "/api/chat/send", {"message": "And for adults?", "session_id": LIBRECHAT_ID}, format="json"
    )
    assert sent.status_code == 201, sent.content

    migrate_chats("--rollback", run_id)

    session = selectors.get_session(user_id=alice.pk, session_id=LIBRECHAT_ID)
    left = list(ChatMessage.objects.filter(user_id=alice.pk, session_id=session.pk))
    assert sorted((m.branch, m.order, m.role) for m in left) == [(2, 3, "user"), (2, 4, "assistant")]
    shown = thread(alice, LIBRECHAT_ID)
    assert [(m.order, m.role) for m in shown] == [(3, "user"), (4, "assistant")]
    assert shown[0].content == "And for adults?"
    # The table reads every message left: fork 1 is empty, fork 2 runs to the live reply, branch 0
    # (what the forks leave of message_count) holds nothing.
    assert [(f["id"], f["first"], f["tip"]) for f in session.branches] == [(1, 1, 0), (2, 2, 4)]
    assert session.message_count == 3
