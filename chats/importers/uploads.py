"""Files a patient uploads from the page: which sources accept them, a first look at the file,
and a source that can only write into the uploader's own account.

The page's import is ``migrate_chats``'s: the same ``open_source`` and the same runner. Only the
sources that read one file and put everything under one account (``--user``) take uploads; those
that read a server's database or directory, or create accounts (``SERVER_SOURCES``), never do.
A source added to ``SOURCES`` is offered on the page as soon as it is registered there.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chats.importers.chatgpt_export import CONVERSATION_FILE
from chats.importers.records import Batch, MessageRecord, SessionRecord
from chats.importers.sources import SOURCES, Source, open_source

DEFAULT_SOURCE = "chatgpt"
# Read the server's own databases or directories, or map several accounts: operators only.
SERVER_SOURCES = frozenset({"mysql", "mysql-sessions", "sqlite", "json"})
# How the page names what each source expects (a new source gets the generic wording).
DESCRIPTIONS = {
    "chatgpt": "a ChatGPT export (conversations.json or the export's zip)",
    "medibot": "a Medibot export (the all-conversations zip or NDJSON)",
}
ZIP_MAGIC = b"PK\x03\x04"
JSON_STARTS = (b"[", b"{")


class InvalidUpload(ValueError):
    """The file is not what the chosen source reads; the message says what was expected."""


class ForeignOwner(RuntimeError):
    """A source produced a conversation for another account than the uploader's."""


def upload_sources() -> tuple[str, ...]:
    """The registered sources a patient may upload a file to, the default first."""
    allowed = [kind for kind in SOURCES if kind not in SERVER_SOURCES]
    return tuple(sorted(allowed, key=lambda kind: (kind != DEFAULT_SOURCE, kind)))


def describe(kind: str) -> str:
    return DESCRIPTIONS.get(kind, f"a {kind} export")


def check_upload(path: Path, *, kind: str) -> str:
    """``"zip"`` or ``"json"`` when the file can be what ``kind`` reads, else InvalidUpload.

    Only a first look (the magic bytes, a zip's member names); the import itself quarantines
    what it cannot read, conversation by conversation.
    """
    expected = f"This file is not {describe(kind)}."
    with path.open("rb") as handle:
        head = handle.read(4096)
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile as exc:
            raise InvalidUpload(f"{expected} The zip file is damaged.") from exc
        wanted = CONVERSATION_FILE.search if kind == "chatgpt" else _is_data_file
        if not any(wanted(name) for name in names):
            what = "conversations.json" if kind == "chatgpt" else "JSON or NDJSON files"
            raise InvalidUpload(f"{expected} The zip holds no {what}.")
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(JSON_STARTS):
        return "json"
    raise InvalidUpload(f"{expected} Choose the file your chat service sent you (JSON or zip).")


def _is_data_file(name: str) -> bool:
    return name.endswith((".json", ".ndjson"))


def open_upload(kind: str, *, path: Path, username: str, user_id: int) -> Source:
    """``migrate_chats --source KIND --path PATH --user USERNAME``, held to that one account."""
    if kind not in upload_sources():
        raise InvalidUpload(f"source must be one of {', '.join(upload_sources())}.")
    return OwnedSource(open_source(kind, path=str(path), username=username, create_users=False), user_id)


class OwnedSource:
    """Passes a source through, refusing any batch with a conversation of another account.

    Every upload source maps the file's own user ids to ``--user``; this holds even for a source
    that forgot to: such a batch stops the run before it is written.
    """

    def __init__(self, inner: Source, user_id: int) -> None:
        self.inner = inner
        self.user_id = user_id
        self.kind = inner.kind

    @property
    def ref(self) -> str:
        return self.inner.ref

    @property
    def options(self) -> dict[str, Any]:
        return self.inner.options

    def warnings(self) -> list[str]:
        return self.inner.warnings()

    def estimate(self) -> int | None:
        return self.inner.estimate()

    def close(self) -> None:
        self.inner.close()

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        for batch in self.inner.batches(checkpoint, batch_size=batch_size):
            for record in batch.records:
                if (
                    isinstance(record, MessageRecord | SessionRecord)
                    and record.session.user_id != self.user_id
                ):
                    raise ForeignOwner("the file's conversations would belong to another account")
            yield batch
