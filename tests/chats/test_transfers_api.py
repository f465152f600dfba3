"""Import and export of a patient's own history through the API (issues 17 and 21): a Celery task
the page starts, polls and cancels; the import is ``migrate_chats``'s runner, owned by the caller.

The tasks run on a real Celery worker (a thread of this process, on the configured broker).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from chats.models import ChatMessage
from tests.chats.conftest import client_for
from tests.chats.factories import session_with_messages
from tests.factories import make_user
from tests.support.chatgpt_exports import write_export
from tests.support.processes import poll
from tests.support.worker import worker_thread

pytestmark = pytest.mark.django_db(databases=["default", "chats"], transaction=True)

FIXTURES = Path(__file__).parent / "importer_fixtures"
CHATGPT = FIXTURES / "chatgpt_conversations.json"
DONE = ("finished", "failed", "cancelled")


@pytest.fixture
def transfer_dir(tmp_path: Path, settings: Any) -> Path:
    settings.CHAT_TRANSFER_DIR = str(tmp_path / "transfers")
    return tmp_path / "transfers"


@pytest.fixture
def worker(transfer_dir: Path) -> Iterator[None]:
    with worker_thread("import"):
        yield


@pytest.fixture
def pat() -> User:
    return make_user(username="pat-import")


@pytest.fixture
def client(pat: User) -> APIClient:
    return client_for(pat)


def upload(client: APIClient, path: Path, **fields: str) -> Any:
    with path.open("rb") as handle:
        return client.post("/api/chat/imports", {"file": handle, **fields}, format="multipart")


def wait_until_done(client: APIClient, status_url: str, timeout: float = 120) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def done() -> bool:
        seen.update(client.get(status_url).json())
        return seen.get("state") in DONE

    assert poll(done, timeout=timeout, interval=0.1), seen
    return seen


def session_titles(client: APIClient) -> list[str]:
    return sorted(s["title"] for s in client.get("/api/chat/sessions?limit=100").json()["results"])


# --- import ---------------------------------------------------------------------------------------


def test_a_chatgpt_export_imports_into_the_callers_account_with_its_counts(
    worker: None, client: APIClient, pat: User
) -> None:
    started = upload(client, CHATGPT)

    assert started.status_code == 202, started.content
    body = wait_until_done(client, started.json()["status_url"])
    assert (body["state"], body["kind"], body["source"], body["error"]) == (
        "finished",
        "import",
        "chatgpt",
        None,
    )
    assert (
        body["result"]["read"] == body["result"]["inserted"] == 5
    )  # every branch: the regenerated answer too
    assert (body["result"]["sessions_inserted"], body["result"]["quarantined"]) == (2, 0)
    assert body["result"]["quarantine"] == []
    assert body["progress"]["read"] == 5
    assert session_titles(client) == ["Rash photo", "Sleep and caffeine"]


def test_the_import_is_the_migrate_chats_runner_with_a_run_record(
    worker: None, client: APIClient, pat: User
) -> None:
    from chats.importers import runs

    body = wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    run = runs.get_run(body["result"]["run_id"])
    assert (run.source, run.state, run.options) == ("chatgpt", "finished", {"user": pat.username})


def test_a_zipped_export_imports_the_same(worker: None, client: APIClient, pat: User, tmp_path: Path) -> None:
    conversations = json.loads(CHATGPT.read_text())
    export = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("conversations.json", json.dumps(conversations))
        archive.writestr("user.json", json.dumps({"id": "user-someone-else"}))

    body = wait_until_done(client, upload(client, export).json()["status_url"])

    assert (body["state"], body["result"]["inserted"]) == ("finished", 5)
    assert session_titles(client) == ["Rash photo", "Sleep and caffeine"]


def test_importing_the_same_export_again_changes_nothing(worker: None, client: APIClient, pat: User) -> None:
    wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    again = wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    assert (again["result"]["inserted"], again["result"]["already_present"]) == (0, 5)
    assert ChatMessage.objects.filter(user_id=pat.pk).count() == 5


def test_nobody_else_gets_the_imported_conversations(worker: None, client: APIClient, pat: User) -> None:
    other = make_user(username="other-patient")

    wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    assert ChatMessage.objects.filter(user_id=other.pk).count() == 0
    assert set(ChatMessage.objects.values_list("user_id", flat=True)) == {pat.pk}


def test_a_malformed_export_finishes_with_quarantine_reasons(
    worker: None, client: APIClient, pat: User, tmp_path: Path
) -> None:
    good, odd = json.loads(CHATGPT.read_text())
    question = next(
        n for n in odd["mapping"].values() if (n.get("message") or {}).get("author", {}).get("role") == "user"
    )
    question["message"]["author"]["role"] = "narrator"
    broken = tmp_path / "conversations.json"
    broken.write_text(json.dumps([good, "not a conversation", odd]))

    body = wait_until_done(client, upload(client, broken).json()["status_url"])

    assert body["state"] == "finished"
    result = body["result"]
    assert (result["read"], result["quarantined"]) == (result["inserted"] + 2, 2)
    reasons = sorted(item["reason"] for item in result["quarantine"])
    assert reasons == ["unknown role", "unparseable JSON"]
    assert all(set(item) == {"unit", "reason"} for item in result["quarantine"])


def test_a_file_that_is_no_export_is_refused_with_400_and_nothing_kept(
    client: APIClient, transfer_dir: Path, tmp_path: Path
) -> None:
    picture = tmp_path / "photo.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)

    response = upload(client, picture)

    assert response.status_code == 400
    assert "ChatGPT export" in response.json()["detail"]
    assert not transfer_dir.exists() or list(transfer_dir.rglob("*.*")) == []


def test_a_zip_without_conversations_is_refused_with_400(client: APIClient, tmp_path: Path) -> None:
    archive_path = tmp_path / "holiday.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("notes.txt", "nothing here")

    response = upload(client, archive_path)

    assert response.status_code == 400
    assert "conversations" in response.json()["detail"]


def test_a_file_over_the_size_limit_is_413(client: APIClient, settings: Any, transfer_dir: Path) -> None:
    settings.CHAT_IMPORT_MAX_BYTES = 1000

    response = upload(client, CHATGPT)

    assert response.status_code == 413
    assert "1000" in response.json()["detail"] or "1 KB" in response.json()["detail"]


def test_an_upload_without_a_file_is_400(client: APIClient) -> None:
    response = client.post("/api/chat/imports", {"source": "chatgpt"}, format="multipart")

    assert response.status_code == 400


def test_a_source_outside_the_allow_list_is_400(client: APIClient, transfer_dir: Path) -> None:
    for source in ("mysql", "json", "sqlite", "no-such-source"):
        response = upload(client, CHATGPT, source=source)
        assert response.status_code == 400, source
        assert "source" in json.dumps(response.json())


def test_the_allowed_sources_are_the_registered_file_sources(client: APIClient) -> None:
    from chats.importers.sources import SOURCES

    body = client.get("/api/chat/imports/sources").json()

    assert body["default"] == "chatgpt"
    assert "chatgpt" in body["sources"]
    assert set(body["sources"]) <= set(SOURCES)
    assert not {"mysql", "mysql-sessions", "sqlite", "json"} & set(body["sources"])


def test_the_uploaded_file_is_deleted_when_the_import_ends(
    worker: None, client: APIClient, transfer_dir: Path
) -> None:
    wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    assert [p for p in transfer_dir.rglob("*") if p.is_file()] == []


def test_cancel_stops_at_a_batch_boundary_and_reports_what_was_written(
    worker: None, client: APIClient, pat: User, tmp_path: Path, settings: Any
) -> None:
    settings.CHAT_IMPORT_BATCH_SIZE = 2
    export = write_export(tmp_path / "conversations.json", conversations=400)
    status_url = upload(client, export).json()["status_url"]
    assert poll(lambda: (client.get(status_url).json()["progress"] or {}).get("read", 0) > 0, timeout=60)

    cancelled = client.post(status_url + "/cancel")
    body = wait_until_done(client, status_url)

    assert cancelled.status_code == 202
    assert body["state"] == "cancelled"
    stored = ChatMessage.objects.filter(user_id=pat.pk).count()
    assert 0 < body["result"]["inserted"] == stored < 800
    assert stored % 2 == 0  # whole batches of two messages


def test_a_cancelled_queued_import_writes_nothing(client: APIClient, pat: User, transfer_dir: Path) -> None:
    status_url = upload(client, CHATGPT).json()["status_url"]

    client.post(status_url + "/cancel")
    with worker_thread("import"):
        body = wait_until_done(client, status_url)

    assert (body["state"], body["result"]["inserted"]) == ("cancelled", 0)
    assert ChatMessage.objects.filter(user_id=pat.pk).count() == 0
    assert [p for p in transfer_dir.rglob("*") if p.is_file()] == []


def test_another_users_transfer_is_404(client: APIClient, transfer_dir: Path) -> None:
    status_url = upload(client, CHATGPT).json()["status_url"]
    intruder = client_for(make_user(username="intruder"))

    assert intruder.get(status_url).status_code == 404
    assert intruder.post(status_url + "/cancel").status_code == 404
    assert intruder.get(status_url + "/download").status_code == 404
    assert client.get("/api/chat/transfers/no-such-transfer").status_code == 404


# --- export ---------------------------------------------------------------------------------------


def test_the_export_task_builds_the_zip_with_its_manifest_for_the_owner_only(
    worker: None, client: APIClient, pat: User
) -> None:
    session_with_messages(user_id=pat.pk, messages=3)
    session_with_messages(user_id=pat.pk, messages=2)

    started = client.post("/api/chat/exports")
    body = wait_until_done(client, started.json()["status_url"])
    download = client.get(body["download_url"])
    intruder = client_for(make_user(username="intruder")).get(body["download_url"])

    assert (started.status_code, body["state"], body["kind"]) == (202, "finished", "export")
    assert body["result"]["sessions"] == 2
    assert (download.status_code, download["Content-Type"]) == (200, "application/zip")
    content = b"".join(download.streaming_content)  # type: ignore[attr-defined]
    archive = zipfile.ZipFile(io.BytesIO(content))
    manifest = json.loads(archive.read("manifest.json"))
    assert len(manifest["files"]) == 2
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["name"])).hexdigest() == entry["sha256"]
    assert intruder.status_code == 404


def test_an_import_has_no_download(worker: None, client: APIClient) -> None:
    body = wait_until_done(client, upload(client, CHATGPT).json()["status_url"])

    assert body["download_url"] is None
    assert client.get(f"/api/chat/transfers/{body['transfer_id']}/download").status_code == 404


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(
    client: APIClient, settings: Any, transfer_dir: Path, tmp_path: Path
) -> None:
    settings.CHAT_IMPORT_MAX_BYTES = 100_000
    big = write_export(tmp_path / "conversations.json", conversations=400)
    assert big.stat().st_size > 100_000 + 64 * 1024

    response = upload(client, big)

    assert response.status_code == 413
    assert not transfer_dir.exists() or list(transfer_dir.iterdir()) == []


def test_a_cancelled_queued_export_builds_nothing(client: APIClient, pat: User, transfer_dir: Path) -> None:
    session_with_messages(user_id=pat.pk, messages=2)
    status_url = client.post("/api/chat/exports").json()["status_url"]

    client.post(status_url + "/cancel")
    with worker_thread("import"):
        body = wait_until_done(client, status_url)

    assert (body["state"], body["download_url"]) == ("cancelled", None)
    assert client.get(status_url + "/download").status_code == 404


def test_a_source_that_maps_rows_to_another_account_is_stopped_before_writing() -> None:
    from datetime import UTC, datetime

    from chats.importers.records import Batch, MessageRecord, SessionSpec
    from chats.importers.uploads import ForeignOwner, OwnedSource

    class OtherAccountSource:
        kind = "chatgpt"
        ref = "test://other-account"
        options: dict[str, Any] = {}

        def warnings(self) -> list[str]:
            return []

        def estimate(self) -> int | None:
            return 1

        def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
            moment = datetime(2024, 5, 1, tzinfo=UTC)
            spec = SessionSpec(
                source="chatgpt", legacy_key="c", user_id=999, session_id="s-other", created_at=moment
            )
            record = MessageRecord(
                unit="c:1",
                legacy_key="c:1",
                session=spec,
                order=1,
                role="user",
                content="hi",
                created_at=moment,
            )
            yield Batch(records=[record], checkpoint={"member": "", "conversation": 1, "next": 0})

        def close(self) -> None:
            return None

    owned = OwnedSource(OtherAccountSource(), user_id=1)

    with pytest.raises(ForeignOwner):
        next(owned.batches(None, batch_size=10))


def test_a_medibot_export_made_on_the_page_imports_back_into_another_account(
    worker: None, client: APIClient, pat: User, tmp_path: Path
) -> None:
    """The round trip from the page (issue 21): export all, download, import as someone else."""
    session_with_messages(user_id=pat.pk, messages=3)
    session_with_messages(user_id=pat.pk, messages=2)
    exported = wait_until_done(client, client.post("/api/chat/exports").json()["status_url"])
    archive = tmp_path / "medibot-chats.zip"
    archive.write_bytes(b"".join(client.get(exported["download_url"]).streaming_content))  # type: ignore[attr-defined]
    newcomer = make_user(username="pat-new-home")
    newcomer_client = client_for(newcomer)

    assert "medibot" in newcomer_client.get("/api/chat/imports/sources").json()["sources"]
    started = upload(newcomer_client, archive, source="medibot")
    body = wait_until_done(newcomer_client, started.json()["status_url"])
    again = wait_until_done(
        newcomer_client, upload(newcomer_client, archive, source="medibot").json()["status_url"]
    )

    assert (started.status_code, body["state"], body["error"]) == (202, "finished", None)
    assert (
        body["result"]["sessions_inserted"],
        body["result"]["inserted"],
        body["result"]["quarantined"],
    ) == (2, 5, 0)
    assert again["result"]["inserted"] == 0
    assert ChatMessage.objects.filter(user_id=newcomer.pk).count() == 5
    assert sorted(session_titles(newcomer_client)) == sorted(session_titles(client))
