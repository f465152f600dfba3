"""Full backup and restore of the chat store with the project's own tools (no mongodump needed).

One file per collection (``COLLECTION.jsonl``, MongoDB Extended JSON, one document per line, in
``_id`` order) plus ``manifest.json`` with each file's document count and SHA-256. Every collection
of the chat database is included (sessions, messages, votes, token usage, daily statistics,
migration runs and quarantine). A restore goes into a migrated, empty chat database (indexes come
from ``migrate --database chats``) and refuses to mix with existing documents.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
from bson import json_util

from chats import store
from chats.checksums import sha256_file
from medibot.mongodb.shard_guard import unscoped

MANIFEST = "manifest.json"
BATCH = 1000
TIMEOUT_SECONDS = 3600
SKIPPED_PREFIXES = ("system.",)


class RestoreRefused(Exception):
    """The backup is damaged, or the target chat database is not empty."""


@dataclass(frozen=True)
class StoreBackupReport:
    collections: dict[str, int]

    @property
    def documents(self) -> int:
        return sum(self.collections.values())


def dump_chat_store(*, directory: str | Path) -> StoreBackupReport:
    """Writes every collection of the chat database to ``directory`` (created; must be empty)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise RestoreRefused(f"{root} is not empty")
    database = store.raw_database()  # as stored: encrypted content stays encrypted in the dump
    counts: dict[str, int] = {}
    files: dict[str, dict[str, Any]] = {}
    with pymongo.timeout(TIMEOUT_SECONDS), unscoped("full backup of the chat store"):
        for name in sorted(database.list_collection_names()):
            if name.startswith(SKIPPED_PREFIXES):
                continue
            path = root / f"{name}.jsonl"
            count = 0
            with path.open("w", encoding="utf-8") as out:
                for document in database[name].find({}, sort=[("_id", 1)]):
                    out.write(json_util.dumps(document, json_options=json_util.CANONICAL_JSON_OPTIONS))
                    out.write("\n")
                    count += 1
            counts[name] = count
            files[name] = {"file": path.name, "documents": count, "sha256": sha256_file(path)}
    manifest = {"database": database.name, "collections": files}
    partial = root / f"{MANIFEST}.partial"
    partial.write_text(json.dumps(manifest, indent=2))
    os.replace(partial, root / MANIFEST)
    return StoreBackupReport(collections=counts)


def restore_chat_store(*, directory: str | Path) -> StoreBackupReport:
    """Loads a ``dump_chat_store`` backup into the (migrated, empty) chat database."""
    root = Path(directory)
    try:
        manifest = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise RestoreRefused(f"no readable {MANIFEST} in {root}") from exc
    entries: dict[str, dict[str, Any]] = manifest["collections"]
    for entry in entries.values():
        if sha256_file(root / entry["file"]) != entry["sha256"]:
            raise RestoreRefused(f"{entry['file']} does not match its checksum: the backup is damaged")
    database = store.raw_database()  # as stored: encrypted content stays encrypted in the dump
    counts: dict[str, int] = {}
    with pymongo.timeout(TIMEOUT_SECONDS), unscoped("full restore of the chat store"):
        occupied = [name for name in entries if database[name].estimated_document_count()]
        if occupied:
            raise RestoreRefused(f"the chat database is not empty ({', '.join(sorted(occupied))})")
        for name, entry in entries.items():
            count = 0
            batch: list[dict[str, Any]] = []
            with (root / entry["file"]).open(encoding="utf-8") as lines:
                for line in lines:
                    batch.append(json_util.loads(line))
                    if len(batch) >= BATCH:
                        database[name].insert_many(batch, ordered=True)
                        count, batch = count + len(batch), []
            if batch:
                database[name].insert_many(batch, ordered=True)
                count += len(batch)
            if count != entry["documents"]:
                expected = entry["documents"]
                raise RestoreRefused(f"{name}: restored {count} documents, the manifest says {expected}")
            counts[name] = count
    return StoreBackupReport(collections=counts)
