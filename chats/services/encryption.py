"""Encrypting existing chat documents in place (turning CHAT_ENCRYPTION on), and back (rollback).

Each collection is walked in ``_id`` order in batches. A document is rewritten with one
``update_one`` whose filter repeats the values it read (a concurrent change makes it miss and the
document is picked up on a rerun), so each document is either wholly converted or untouched. After
each batch the rewritten documents are read back through the decrypting client and their content
compared with SHA-256 hashes of what was read; then the checkpoint (``chat_encryption_progress``)
moves on. A killed run resumes from its checkpoint; documents already converted are skipped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bson import Int64, ObjectId
from pymongo import UpdateOne
from pymongo.collection import Collection

from chats import crypto, search, store
from chats.services.search_rebuild import rebuild_search
from medibot.mongodb.shard_guard import unscoped

PROGRESS = "chat_encryption_progress"
TERM_SOURCES = {"chat_sessions": "title", "chat_messages": "content"}


class VerificationFailed(Exception):
    """A converted document does not read back as what was there before."""


@dataclass
class ConversionReport:
    mode: str
    converted: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    verified: int = 0
    resumed: bool = False


def _raw(name: str) -> Collection[dict[str, Any]]:
    """A collection read without the decrypting decoder: the documents as they are stored."""
    return store.raw_database()[name]


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _needs_sealing(value: Any, name: str) -> bool:
    """Plaintext, or encrypted in the first format (libmongocrypt's values): rewritten."""
    if value in ("", None) or value == [] or value == {}:
        return False
    if name == "metadata" and isinstance(value, dict):
        return any(
            key not in crypto.PLAINTEXT_METADATA_KEYS and not crypto.is_current(item)
            for key, item in value.items()
        )
    return not crypto.is_current(value)


def _has_ciphertext(value: Any) -> bool:
    if isinstance(value, dict):
        return any(crypto.is_encrypted(item) for item in value.values())
    return crypto.is_encrypted(value)


def _convert(table: str, document: dict[str, Any], *, decrypt: bool) -> tuple[dict[str, Any], str] | None:
    """The ``$set`` converting one document and the hash of its plaintext; None: nothing to do."""
    names = [name for name in crypto.ENCRYPTED_FIELDS[table] if name in document]
    if decrypt:
        if not any(_has_ciphertext(document[name]) for name in names):
            return None
        plain = {name: crypto.open_document(document[name]) for name in names}
        change = dict(plain)
        source = TERM_SOURCES.get(table)
        if source and "search_terms" in document:
            change["search_terms"] = search.terms_for(plain.get(source) or "")
        return change, _digest(plain)
    if not any(_needs_sealing(document[name], name) for name in names):
        return None
    plain = {name: crypto.open_document(document[name]) for name in names}
    sealed = crypto.seal_document(table, {"user_id": document["user_id"], **plain}, force=True)
    sealed.pop("user_id")
    source = TERM_SOURCES.get(table)
    if source and "search_terms" in document:
        # The terms become the patient's keyed hashes (search.search_key with encryption on); the
        # postings and the vocabulary follow in rebuild_search once every document is converted.
        user_id = int(document["user_id"])
        sealed["search_terms"] = [
            crypto.search_hmac(user_id, term) for term in search.terms_for(plain.get(source) or "")
        ]
    return sealed, _digest(plain)


def convert_chats(
    *,
    decrypt: bool = False,
    batch_size: int = 500,
    throttle_seconds: float = 0.0,
    progress: Callable[[str, int, int], None] | None = None,
) -> ConversionReport:
    """Encrypt (or, ``decrypt=True``, decrypt) every chat document in place; resumable, verified."""
    mode = "decrypt" if decrypt else "encrypt"
    report = ConversionReport(mode=mode)
    checkpoints = store.database()[PROGRESS]
    with unscoped("background: encrypting chats in place"):
        state = checkpoints.find_one({"_id": mode}) or {}
        report.resumed = bool(state)
        tables = list(crypto.ENCRYPTED_FIELDS)
        start = tables.index(state["collection"]) if state else 0
        for table in tables[start:]:
            after: ObjectId | None = state.get("last_id") if state.get("collection") == table else None
            _convert_collection(table, after, report, batch_size, throttle_seconds, progress, decrypt=decrypt)
            checkpoints.replace_one({"_id": mode}, {"collection": table, "last_id": None}, upsert=True)
        checkpoints.delete_one({"_id": mode})
    if not decrypt and crypto.enabled():
        # Postings and vocabularies were keyed by plaintext terms: key them again by the HMACs.
        rebuild_search(restart=True)
    return report


def _convert_collection(
    table: str,
    after: ObjectId | None,
    report: ConversionReport,
    batch_size: int,
    throttle_seconds: float,
    progress: Callable[[str, int, int], None] | None,
    *,
    decrypt: bool,
) -> None:
    raw = _raw(table)
    checkpoints = store.database()[PROGRESS]
    mode = "decrypt" if decrypt else "encrypt"
    total = raw.estimated_document_count()
    done = raw.count_documents({"_id": {"$lte": after}}) if after is not None else 0
    report.converted.setdefault(table, 0)
    report.skipped.setdefault(table, 0)
    while True:
        query = {"_id": {"$gt": after}} if after is not None else {}
        batch = list(raw.find(query, sort=[("_id", 1)], limit=batch_size))
        if not batch:
            return
        expected: dict[Any, str] = {}
        operations = []
        for document in batch:
            converted = _convert(table, document, decrypt=decrypt)
            if converted is None:
                report.skipped[table] += 1
                continue
            change, digest = converted
            names = [name for name in crypto.ENCRYPTED_FIELDS[table] if name in document]
            unchanged = {name: document[name] for name in names}
            owned = {"_id": document["_id"], "user_id": Int64(document["user_id"]), **unchanged}
            operations.append(UpdateOne(owned, {"$set": change}))
            expected[document["_id"]] = digest
        if operations:
            raw.bulk_write(operations, ordered=False)
            report.verified += _verify(table, expected)
            report.converted[table] += len(operations)
        after = batch[-1]["_id"]
        done += len(batch)
        checkpoints.replace_one({"_id": mode}, {"collection": table, "last_id": after}, upsert=True)
        if progress is not None:
            progress(table, done, total)
        if throttle_seconds:
            time.sleep(throttle_seconds)


def _verify(table: str, expected: dict[Any, str]) -> int:
    """Read the converted documents back (decrypted) and compare them with what was read."""
    names = crypto.ENCRYPTED_FIELDS[table]
    found = 0
    for document in store.database()[table].find({"_id": {"$in": list(expected)}}):
        plain = {name: document[name] for name in names if name in document}
        if _digest(plain) != expected[document["_id"]]:
            raise VerificationFailed(f"{table} {document['_id']} does not read back as it was")
        found += 1
    return found
