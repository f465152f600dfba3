"""Reading legacy values: timestamps in any of the usual text forms, strict UTF-8, size limits."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from chats import builders
from chats.importers.records import Reason

# A document is at most 16 MiB; leave room for the other fields, the search terms and the hash.
MAX_CONTENT_BYTES = 16 * 1024 * 1024 - 256 * 1024
QUARANTINE_VALUE_CHARS = 64 * 1024


class BadValue(Exception):
    """A legacy value that cannot be imported; ``reason`` goes to the quarantine."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(detail or reason.value)
        self.reason = reason


def to_utc(moment: datetime, *, legacy_zone: tzinfo = UTC) -> datetime:
    """Aware UTC truncated to milliseconds (what BSON keeps); naive values are in ``legacy_zone``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=legacy_zone)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def parse_timestamp(value: Any, *, legacy_zone: tzinfo = UTC) -> datetime:
    """A datetime, epoch seconds, or ISO/SQL text (``2024-01-31 12:00:00[.ffffff][+00:00|Z]``)."""
    if isinstance(value, datetime):
        return to_utc(value, legacy_zone=legacy_zone)
    if isinstance(value, date):
        return to_utc(datetime(value.year, value.month, value.day), legacy_zone=legacy_zone)
    if isinstance(value, bool) or value is None:
        raise BadValue(Reason.BAD_TIMESTAMP)
    if isinstance(value, int | float):
        try:
            return to_utc(datetime.fromtimestamp(value, tz=UTC))
        except (OverflowError, OSError, ValueError) as exc:
            raise BadValue(Reason.BAD_TIMESTAMP) from exc
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError as exc:
            raise BadValue(Reason.BAD_TIMESTAMP) from exc
    if not isinstance(value, str):
        raise BadValue(Reason.BAD_TIMESTAMP)
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadValue(Reason.BAD_TIMESTAMP) from exc
    if parsed.year < 1970:
        raise BadValue(Reason.BAD_TIMESTAMP)
    return to_utc(parsed, legacy_zone=legacy_zone)


def text(value: Any) -> str:
    """Strict UTF-8 text: bytes that do not decode are quarantined, never replaced."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadValue(Reason.INVALID_UTF8) from exc
    if not isinstance(value, str):
        return str(value)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadValue(Reason.INVALID_UTF8) from exc
    return value


def content(value: Any) -> str:
    """Message text: valid UTF-8, not blank, small enough for one MongoDB document."""
    decoded = text(value)
    if not decoded.strip():
        raise BadValue(Reason.EMPTY)
    # Four bytes per character at most: only long texts need the exact (costly) count.
    if len(decoded) * 4 > MAX_CONTENT_BYTES and len(decoded.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise BadValue(Reason.TOO_LARGE)
    return decoded


def quarantine_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of a legacy row that always fits in a quarantine document.

    Nested JSON is kept as text (its keys may be anything), undecodable text as bytes, and a value
    over 64 KB only as its size.
    """
    kept: dict[str, Any] = {}
    for name, value in row.items():
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str, ensure_ascii=False)
        if isinstance(value, memoryview | bytearray | bytes):
            try:
                value = bytes(value).decode("utf-8")
            except UnicodeDecodeError:
                value = bytes(value)
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                value = value.encode("utf-8", "surrogateescape")
        if isinstance(value, str | bytes) and len(value) > QUARANTINE_VALUE_CHARS:
            kept[name] = {"omitted_chars": len(value)}
        elif isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            kept[str(name)] = str(value)
        elif isinstance(value, datetime | str | bytes | int | float | bool) or value is None:
            kept[str(name)] = value
        else:
            kept[str(name)] = str(value)
    return kept


def fork_table(value: Any) -> list[dict[str, Any]]:
    """A Medibot export's fork table (``ChatSession.branches``), or none when an entry is not one."""
    if not isinstance(value, list):
        return []
    found = []
    for entry in value:
        if not isinstance(entry, dict):
            return []
        numbers = [entry.get(name) for name in ("id", "parent", "first", "tip")]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            return []
        number, parent, first, tip = (int(n or 0) for n in numbers)
        found.append(
            builders.fork(
                id=number,
                parent=parent,
                first=first,
                tip=tip,
                fork_message_id=str(entry.get("fork_message_id") or ""),
            )
        )
    return found


def branch_in(value: Any, forks: list[dict[str, Any]]) -> int:
    """A message's (or the active) branch when the fork table has it, else 0: an export written
    before branches holds the active path as orders 1..n of the original line."""
    return int(value) if any(fork["id"] == value for fork in forks) and isinstance(value, int) else 0
