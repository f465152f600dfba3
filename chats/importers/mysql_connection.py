"""A read connection to a legacy MySQL database: ``--source-url`` or the ``default`` database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import MySQLdb
from django.db import connections


@dataclass(frozen=True)
class MySQLSource:
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_url(cls, url: str) -> MySQLSource:
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mariadb") or not parts.path.strip("/"):
            raise ValueError("--source-url must look like mysql://user:pass@host:port/database")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=unquote(parts.path.strip("/")),
        )

    @classmethod
    def default_database(cls) -> MySQLSource:
        config = connections["default"].settings_dict
        if config["ENGINE"] != "django.db.backends.mysql":
            raise ValueError("the default database is not MySQL: give the legacy one with --source-url")
        return cls(
            host=config["HOST"] or "127.0.0.1",
            port=int(config["PORT"] or 3306),
            user=config["USER"],
            password=config["PASSWORD"],
            database=config["NAME"],
        )

    @property
    def ref(self) -> str:
        """Where the data comes from, without credentials (runs and locks are keyed by it)."""
        return f"mysql://{self.host}:{self.port}/{self.database}"

    def connect(self) -> Any:
        """Text comes back as bytes: invalid UTF-8 is quarantined by the importer, not by the driver."""
        return MySQLdb.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            database=self.database,
            charset="utf8mb4",
            use_unicode=False,
            autocommit=True,
        )


def has_index_starting_with(cursor: Any, table: str, columns: list[str]) -> bool:
    """Whether ``table`` has an index whose leading columns are ``columns`` (keyset reads use it)."""
    cursor.execute(f"SHOW INDEX FROM `{table}`")
    names = [column[0] for column in cursor.description]
    indexes: dict[str, dict[int, str]] = {}
    for row in cursor.fetchall():
        entry = dict(zip(names, row, strict=True))
        key = entry["Key_name"].decode() if isinstance(entry["Key_name"], bytes) else entry["Key_name"]
        column = entry["Column_name"]
        indexes.setdefault(key, {})[int(entry["Seq_in_index"])] = (
            column.decode() if isinstance(column, bytes) else column
        )
    return any(
        [parts.get(position + 1) for position in range(len(columns))] == columns for parts in indexes.values()
    )


def table_exists(cursor: Any, table: str) -> bool:
    cursor.execute("SHOW TABLES LIKE %s", (table,))
    return cursor.fetchone() is not None


class MySQLReads:
    """What every legacy-MySQL source does with its open ``connection``: plain reads, then close."""

    connection: Any

    def close(self) -> None:
        self.connection.close()

    def _fetch(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self.connection.cursor() as cursor:
            cursor.execute(sql, parameters)
            return list(cursor.fetchall())
