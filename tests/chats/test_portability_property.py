"""Property (issue 21): any conversation → each re-importable export → ``migrate_chats --source
medibot`` into another account → the same conversation, by per-conversation hash and by document;
importing the same export again writes nothing.

Conversations are random: unicode titles, tags and texts, nested metadata, citations,
attachments, votes with reasons, token usage with costs, and branches (edited questions and
regenerated answers anywhere in the conversation, another branch shown): the document compared
holds every branch's messages with their (branch, order), the session's fork table and active
branch, and the shown path.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import User
from chats import backups, branches, exporters, selectors, services
from chats.models import ChatMessage, ChatSession
from chats.responders.base import Reply
from tests.chats.importer_support import migrate_chats
from tests.chats.test_portability import document, snapshot
from tests.factories import make_user

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

_accounts = itertools.count(1)
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029")
    | st.just("\n"),
    min_size=1,
    max_size=80,
).filter(lambda text: text.strip() != "")
KEY = st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöü_", min_size=1, max_size=10)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=3),
    max_leaves=6,
)
VOTE = st.none() | st.tuples(st.sampled_from(["up", "down"]), st.just("") | TEXT.map(lambda text: text[:40]))
USAGE = st.tuples(
    st.integers(0, 100_000), st.integers(0, 100_000), st.decimals(0, 100, places=8, allow_nan=False)
)
TURN = st.fixed_dictionaries(
    {
        "question": TEXT,
        "answer": TEXT,
        "model": st.sampled_from(["", "gpt-4o-mini", "llama3.1:8b"]),
        "citations": st.lists(
            st.fixed_dictionaries({"title": TEXT, "page": st.integers(1, 999)}), max_size=2
        ),
        "attachments": st.lists(st.fixed_dictionaries({"type": st.just("pdf"), "name": TEXT}), max_size=2),
        "metadata": st.dictionaries(KEY, JSONISH, max_size=3),
        "vote": VOTE,
        "usage": USAGE,
    }
)
CONVERSATION = st.fixed_dictionaries(
    {
        "title": st.text(max_size=60),
        "tags": st.lists(TEXT.map(lambda text: text.strip()[:20]), max_size=3, unique=True),
        "metadata": st.dictionaries(KEY, JSONISH, max_size=3),
        "turns": st.lists(TURN, max_size=4),
        # Edits (of a question) and regenerations (of an answer) of any message so far, on any
        # branch: (kind, which message, the new question or answer, the answer to an edit).
        "forks": st.lists(
            st.tuples(st.sampled_from(["edit", "regenerate"]), st.integers(0, 99), TEXT, TEXT), max_size=3
        ),
        "switch_to": st.none() | st.integers(0, 99),
    }
)


def create(user: User, spec: dict[str, Any]) -> ChatSession:
    session = services.start_session(
        user_id=user.pk, title=spec["title"].strip()[:80], tags=spec["tags"], metadata=spec["metadata"]
    )
    for turn in spec["turns"]:
        question = services.append_message(
            session=session, role="user", content=turn["question"], attachments=turn["attachments"]
        )
        prompt, completion, cost = turn["usage"]
        answer, _usage = services.record_reply(
            session=session,
            parent_message_id=question.message_id,
            reply=Reply(
                content=turn["answer"],
                model=turn["model"],
                prompt_tokens=prompt,
                completion_tokens=completion,
                cost=Decimal(cost),
                source_documents=turn["citations"],
                metadata=turn["metadata"],
            ),
        )
        if turn["vote"]:
            services.vote(message=answer, user_id=user.pk, vote_type=turn["vote"][0], reason=turn["vote"][1])
    fork(session, spec["forks"], spec["switch_to"])
    return ChatSession.objects.get(pk=session.pk)


def fork(session: ChatSession, forks: list[tuple[str, int, str, str]], switch_to: int | None) -> None:
    """Branches made the way the page makes them: an edited question answered again, a regenerated
    answer; then perhaps another branch shown."""
    for kind, pick, text, answer in forks:
        session = ChatSession.objects.get(pk=session.pk)
        stored = list(ChatMessage.objects.filter(user_id=session.user_id, session_id=session.pk))
        role = "user" if kind == "edit" else "assistant"
        candidates = sorted((m for m in stored if m.role == role), key=lambda m: (m.branch, m.order))
        if not candidates:
            continue
        old = candidates[pick % len(candidates)]
        if kind == "edit":
            question = services.append_message(session=session, role="user", content=text, fork_of=old)
            services.record_reply(
                session=session,
                reply=Reply(content=answer, model="m1"),
                parent_message_id=question.message_id,
            )
        else:
            services.record_reply(
                session=session,
                reply=Reply(content=text, model="m1"),
                parent_message_id=old.parent_message_id,
                fork_of=old,
            )
    stored = sorted(
        ChatMessage.objects.filter(user_id=session.user_id, session_id=session.pk),
        key=lambda m: (m.branch, m.order),
    )
    if switch_to is not None and stored:
        fresh = ChatSession.objects.get(pk=session.pk)
        services.switch_branch(session=fresh, message=stored[switch_to % len(stored)])


def tree(user_id: int, session_id: str) -> dict[str, Any]:
    """The conversation as a tree, whatever its branch numbering: each message's parent (by
    position in the branch table), role and text; the shown path; how many messages."""
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    table = branches.of_session(session)
    messages = list(selectors.iter_every_message(session=session))
    at = {(m.branch, m.order): m.message_id for m in messages}

    def parent(message: ChatMessage) -> str | None:
        branch, order = branches.parent_position(table, message.branch, message.order)
        while branch != 0 and order < table[branch].first:
            branch = table[branch].parent
        return at.get((branch, order))

    return {
        "messages": {m.message_id: (parent(m), m.role, m.content) for m in messages},
        "shown": [m.message_id for m in selectors.iter_session_messages(session=session)],
        "message_count": session.message_count,
    }


def conversation_hash(conversation: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(conversation, default=str, sort_keys=True).encode()).hexdigest()


def exports(user: User, session: ChatSession, directory: Path) -> dict[str, tuple[str, ...]]:
    """Each re-importable export of ``user``, as the ``migrate_chats`` arguments that read it."""
    one = directory / "one.json"
    one.write_text("".join(exporters.render_session(session, "json")))
    ndjson = directory / "all.ndjson"
    ndjson.write_text("".join(exporters.ndjson_lines(user.pk)))
    archive = directory / "all.zip"
    archive.write_bytes(exporters.zip_archive(user.pk).read())
    backup = directory / "backup"
    backups.backup_changed_sessions(directory=str(backup))
    return {"json": (str(one),), "ndjson": (str(ndjson),), "zip": (str(archive),), "backup": (str(backup),)}


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spec=CONVERSATION)
def test_every_export_imports_back_identically_and_a_second_import_is_a_no_op(
    spec: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> None:
    number = next(_accounts)
    owner = make_user(username=f"prop-owner-{number}")
    session = create(owner, spec)
    expected = document(owner.pk, session.session_id)
    directory = tmp_path_factory.mktemp(f"exports-{number}")
    written = exports(owner, session, directory)
    with zipfile.ZipFile(written["zip"][0]) as archive:
        assert archive.namelist() == [f"sessions/{session.session_id}.json", "manifest.json"]

    for fmt, (path,) in written.items():
        target = make_user(username=f"prop-{fmt}-{number}")
        args = ["--source", "medibot", "--path", path]
        if fmt == "backup":
            user_map = directory / f"map-{fmt}.csv"
            user_map.write_text(f"{owner.pk},{target.username}\n")
            args += ["--user-map", str(user_map)]
        else:
            args += ["--user", target.username]

        first = migrate_chats(*args)
        assert first.code == 0, f"{fmt}: {first.out}{first.err}"
        imported = document(target.pk, session.session_id)
        assert imported == expected, fmt
        assert conversation_hash(imported) == conversation_hash(expected), fmt
        before = snapshot()
        again = migrate_chats(*args, "--restart")
        assert again.code == 0, f"{fmt}: {again.out}{again.err}"
        assert "inserted 0 +" in again.out, fmt
        assert snapshot() == before, fmt

    # Open WebUI's format is a tree too: every branch leaves, the shown one comes back shown.
    target = make_user(username=f"prop-openwebui-{number}")
    open_webui = directory / "openwebui.json"
    open_webui.write_text("".join(exporters.open_webui_lines(owner.pk)))
    args = ["--source", "openwebui", "--path", str(open_webui), "--user", target.username]
    first = migrate_chats(*args)
    assert first.code == 0, f"openwebui: {first.out}{first.err}"
    assert tree(target.pk, session.session_id) == tree(owner.pk, session.session_id)
    before = snapshot()
    assert "inserted 0 +" in migrate_chats(*args, "--restart").out
    assert snapshot() == before
