"""What the runner needs from a legacy source, and how ``--source`` names pick one."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from chats.importers.records import Batch
from chats.importers.users import UserMap

SOURCES = (
    "mysql",
    "mysql-sessions",
    "sqlite",
    "json",
    "chatgpt",
    "claude",
    "openwebui",
    "librechat",
    "medibot",
)
TREE_SOURCES = {
    "claude": ("chats.importers.claude_export", "ClaudeExportSource"),
    "openwebui": ("chats.importers.open_webui", "OpenWebUIExportSource"),
    "librechat": ("chats.importers.librechat", "LibreChatExportSource"),
}


class Source(Protocol):
    kind: str

    @property
    def ref(self) -> str:
        """Where the data comes from (no credentials); one lock and one run history per ref."""

    @property
    def options(self) -> dict[str, Any]:
        """Options that change how rows become documents; a resumed run must keep them."""

    def warnings(self) -> list[str]:
        """Things the operator should know before a long run (a missing index...)."""

    def estimate(self) -> int | None:
        """About how many legacy rows there are (for the progress bar), if cheap to know."""

    def batches(self, checkpoint: dict[str, Any] | None, *, batch_size: int) -> Iterator[Batch]:
        """Keyset batches of at most ``batch_size`` legacy rows, starting after ``checkpoint``."""

    def close(self) -> None: ...


def open_source(
    kind: str,
    *,
    source_url: str | None = None,
    path: str | None = None,
    username: str | None = None,
    user_map: str | None = None,
    gap_minutes: int = 30,
    legacy_timezone: str = "UTC",
    create_users: bool = True,
) -> Source:
    """The source ``kind`` reading ``source_url``/``path``; raises ValueError for bad arguments."""
    zone: tzinfo = UTC if legacy_timezone == "UTC" else ZoneInfo(legacy_timezone)
    gap = timedelta(minutes=gap_minutes)
    mapping = UserMap.load(user_map) if user_map else None
    if kind in ("mysql", "mysql-sessions"):
        from chats.importers.mysql_connection import MySQLSource

        database = MySQLSource.from_url(source_url) if source_url else MySQLSource.default_database()
        if kind == "mysql":
            from chats.importers.mysql_chat_history import ChatHistorySource

            return ChatHistorySource(database=database, gap=gap, legacy_zone=zone, zone_name=legacy_timezone)
        from chats.importers.mysql_sessions import SessionTablesSource

        return SessionTablesSource(
            database=database, user_map=mapping, legacy_zone=zone, zone_name=legacy_timezone
        )
    if not path:
        raise ValueError(f"--source {kind} needs --path")
    if kind == "sqlite":
        from chats.importers.whatsapp_sqlite import WhatsAppSource

        return WhatsAppSource(
            path=Path(path), gap=gap, legacy_zone=zone, zone_name=legacy_timezone, create_users=create_users
        )
    if kind == "json":
        from chats.importers.json_files import JsonDirectorySource

        return JsonDirectorySource(directory=Path(path), user_map=mapping, legacy_zone=zone)
    if kind == "chatgpt":
        from chats.importers.chatgpt_export import ChatGPTExportSource

        if not username:
            raise ValueError("--source chatgpt needs --user USERNAME (the account that owns the export)")
        return ChatGPTExportSource(path=Path(path), username=username)
    if kind in TREE_SOURCES:
        module, name = TREE_SOURCES[kind]
        if not username:
            raise ValueError(f"--source {kind} needs --user USERNAME (the account that owns the export)")
        source_class = getattr(importlib.import_module(module), name)
        return cast(Source, source_class(path=Path(path), username=username))
    if kind == "medibot":
        from chats.importers.medibot_export import MedibotExportSource

        return MedibotExportSource(path=Path(path), username=username, user_map=mapping)
    raise ValueError(f"--source must be one of {', '.join(SOURCES)}")
