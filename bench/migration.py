"""Operation 5: ``manage.py migrate_chats --source mysql`` against raw ``insert_many`` of the same documents.

For each size the legacy ``chat_history`` table (``id, user_id, message, response, timestamp``, with
the ``(user_id, timestamp)`` index the importer asks for) is filled with that many rows in a MySQL
database of its own (``MEDIBOT_BENCH_LEGACY_URL``, default ``mysql://root@127.0.0.1:3306/
medibot_bench_legacy``); its users are accounts of ``default``. Each round migrates it into a fresh chat
database on the same server, dumps what the command stored, and inserts exactly those documents
into another fresh database with plain pymongo (bench/raw_insert.py). Both run as child processes
timed from start to exit; their peak RSS is the kernel's high-water mark (``VmHWM``). Rounds
alternate the order (AB, BA).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import pymongo
from django.core.management import get_commands

from bench.explain import plan_of
from bench.stack import REPO, Stack
from chats import store
from chats.fake_data import generated_users, iter_patient_questions
from chats.importers.mysql_connection import MySQLSource
from chats.responders import offline

ROWS_PER_LEGACY_USER = 200
BATCH_SIZE = 1000
IMPORT_RATE = re.compile(r"(\d+(?:\.\d+)?) rows/s")
STATISTICS_DAYS = re.compile(r"daily statistics recomputed for (\d+) days")
DEFAULT_LEGACY_URL = "mysql://root@127.0.0.1:3306/medibot_bench_legacy"
RSS_POLL_SECONDS = 0.05
COLLECTIONS = ["chat_sessions", "chat_messages", "chat_token_usage"]


@dataclass
class ChildRun:
    seconds: float
    peak_rss_mib: float
    exit_code: int
    output: str = ""

    def reported(self) -> dict[str, float]:
        """What ``migrate_chats`` says about itself: its import-phase rate and the statistics days."""
        found: dict[str, float] = {}
        if match := IMPORT_RATE.search(self.output):
            found["import_rows_per_s"] = float(match.group(1))
        if match := STATISTICS_DAYS.search(self.output):
            found["statistics_days"] = float(match.group(1))
        return found


@dataclass
class MigrationSize:
    rows: int
    migrate: list[ChildRun] = field(default_factory=list)
    raw: list[ChildRun] = field(default_factory=list)
    documents: int = 0
    missing_documents: int = 0
    statistics_plan: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        def best(runs: list[ChildRun]) -> dict[str, float]:
            ok = [run for run in runs if run.exit_code == 0]
            if not ok:
                return {}
            seconds = statistics.median(run.seconds for run in ok)
            return {
                "seconds": round(seconds, 2),
                "rows_per_s": round(self.rows / seconds, 1),
                "peak_rss_mib": round(max(run.peak_rss_mib for run in ok), 1),
                **ok[-1].reported(),
            }

        migrate, raw = best(self.migrate), best(self.raw)
        return {
            "rows": self.rows,
            "documents": self.documents,
            "missing_documents": self.missing_documents,
            "statistics_plan": self.statistics_plan,
            "migrate": migrate,
            "raw": raw,
            "throughput_ratio": round(migrate["rows_per_s"] / raw["rows_per_s"], 3)
            if migrate and raw
            else None,
            "runs": {
                "migrate": [vars(run) for run in self.migrate],
                "raw": [vars(run) for run in self.raw],
            },
        }


def legacy_url() -> str:
    return os.environ.get("MEDIBOT_BENCH_LEGACY_URL") or DEFAULT_LEGACY_URL


def unavailable_reason() -> str:
    """Why operation 5 cannot run here, or "" when it can."""
    if "migrate_chats" not in get_commands():
        return "manage.py migrate_chats is not available"
    try:
        _legacy_connection(create=True).close()
    except Exception as exc:
        return (
            f"no legacy MySQL at {MySQLSource.from_url(legacy_url()).ref} ({exc.__class__.__name__}: {exc})"
        )
    return ""


def _legacy_connection(*, create: bool = False) -> Any:
    import MySQLdb

    source = MySQLSource.from_url(legacy_url())
    if create:
        server = MySQLdb.connect(
            host=source.host, port=source.port, user=source.user, password=source.password
        )
        with server.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{source.database}` CHARACTER SET utf8mb4")
        server.close()
    return MySQLdb.connect(
        host=source.host,
        port=source.port,
        user=source.user,
        password=source.password,
        database=source.database,
        charset="utf8mb4",
        autocommit=True,
    )


def run_child(argv: list[str], env: dict[str, str], *, output_path: Path) -> ChildRun:
    """Run a child to its end: wall time, and peak RSS as the kernel's high-water mark of its memory.

    ``VmHWM`` is polled from /proc while it runs. Not ``wait4``'s ``ru_maxrss``: Linux carries the
    parent's RSS at fork time into the child's, so every child would look as big as this process.
    """
    started = time.perf_counter()
    peak_kib = 0
    with output_path.open("wb") as output:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            peak_kib = max(peak_kib, _high_water_kib(status))
            time.sleep(RSS_POLL_SECONDS)
    return ChildRun(
        seconds=time.perf_counter() - started,
        peak_rss_mib=peak_kib / 1024,
        exit_code=process.returncode,
        output=output_path.read_text(errors="replace")[-2000:],
    )


def _high_water_kib(status: Path) -> int:
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def fill_legacy_table(rows: int, *, seed: int = 5) -> int:
    """``rows`` rows of the legacy MySQL ``chat_history``, about 200 per account of ``default``.

    A user's rows come in bursts (the importer makes sessions by time gap); 2% have no response.
    Returns how many messages they hold (a row with a response holds two).
    """
    user_ids = generated_users(count=max(10, rows // ROWS_PER_LEGACY_USER), prefix="bench-legacy")
    rng = random.Random(seed)
    questions = iter_patient_questions(seed=seed)
    clock = {user_id: datetime(2021, 1, 1) for user_id in user_ids}
    legacy = _legacy_connection(create=True)
    messages = 0
    try:
        with legacy.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS chat_history")
            cursor.execute(
                "CREATE TABLE chat_history (id INT PRIMARY KEY AUTO_INCREMENT, user_id INT, message TEXT, "
                "response TEXT, timestamp DATETIME, INDEX idx_user_timestamp (user_id, timestamp)) "
                "CHARACTER SET utf8mb4"
            )
            batch: list[tuple[int, str, str | None, datetime]] = []
            for _ in range(rows):
                user_id = rng.choice(user_ids)
                quiet = rng.random() < 0.2
                clock[user_id] += (
                    timedelta(hours=rng.randint(1, 72)) if quiet else timedelta(seconds=rng.randint(20, 600))
                )
                question = next(questions)
                answer = None if rng.random() < 0.02 else offline_answer(question)
                messages += 2 if answer else 1
                batch.append((user_id, question, answer, clock[user_id]))
                if len(batch) >= 2000:
                    _insert_rows(cursor, batch)
                    batch = []
            if batch:
                _insert_rows(cursor, batch)
    finally:
        legacy.close()
    return messages


def offline_answer(question: str) -> str:
    return offline.compose(message=question, ehr=None)


def _insert_rows(cursor: Any, batch: list[tuple[int, str, str | None, datetime]]) -> None:
    cursor.executemany(
        "INSERT INTO chat_history (user_id, message, response, timestamp) VALUES (%s, %s, %s, %s)", batch
    )


def _env(stack: Stack, database: str) -> dict[str, str]:
    return {**stack.env, "MONGODB_DATABASE": database}


def _prepare_database(database: str) -> None:
    """An empty chat database with the collections and indexes of the migrated benchmark database."""
    client = store.client()
    client.drop_database(database)
    template = store.database()
    for name in template.list_collection_names():
        client[database].create_collection(name)
        for spec in template[name].list_indexes():
            if spec["name"] != "_id_":
                options = {key: value for key, value in spec.items() if key not in ("key", "v", "ns")}
                client[database][name].create_index(list(spec["key"].items()), **options)


def _migrate(stack: Stack, database: str) -> ChildRun:
    _prepare_database(database)
    return run_child(
        [
            sys.executable,
            "manage.py",
            "migrate_chats",
            "--source",
            "mysql",
            "--source-url",
            legacy_url(),
            "--batch-size",
            str(BATCH_SIZE),
            "--progress-interval",
            "3600",
        ],
        _env(stack, database),
        output_path=stack.workdir / "migrate_chats.log",
    )


def _dump(database: str, directory: Path) -> tuple[list[str], int]:
    targets, count = [], 0
    source = store.client()[database]
    for name in COLLECTIONS:
        path = directory / f"{name}.bson"
        with path.open("wb") as sink:
            for document in source[name].find({}, batch_size=5000):
                sink.write(bson.encode(document))
                count += 1 if name == "chat_messages" else 0
        targets.append(f"{path}:{name}")
    return targets, count


def statistics_plan(database: str) -> dict[str, Any]:
    """The plan of the daily-statistics window the command recomputes for every imported day."""
    db = store.client()[database]
    first = db.chat_messages.find_one({}, {"created_at": 1})
    if first is None:
        return {}
    start = first["created_at"].replace(hour=0, minute=0, second=0, microsecond=0)
    window = {"created_at": {"$gte": start, "$lt": start + timedelta(days=1)}}
    return plan_of("chat_messages", [{"$match": window}, {"$count": "messages"}], database=db)


def _raw(stack: Stack, database: str, targets: list[str]) -> ChildRun:
    _prepare_database(database)
    return run_child(
        [
            sys.executable,
            "-m",
            "bench.raw_insert",
            stack.env["MONGODB_URI"],
            database,
            str(BATCH_SIZE),
            *targets,
        ],
        stack.env,
        output_path=stack.workdir / "raw_insert.log",
    )


def measure(stack: Stack, *, sizes: list[int], rounds: int, log: Any) -> list[dict[str, Any]]:
    """Every size, ``rounds`` times each side; the chat databases used are dropped afterwards."""
    with pymongo.timeout(24 * 3600):
        return [_measure_size(stack, rows=rows, rounds=rounds, log=log) for rows in sizes]


def _measure_size(stack: Stack, *, rows: int, rounds: int, log: Any) -> dict[str, Any]:
    """AB, BA, ... rounds: the first round migrates first, as raw inserts what the command stored."""
    base = stack.env["MONGODB_DATABASE"]
    migrated, copied = f"{base}_migrate_{rows}", f"{base}_raw_{rows}"
    size = MigrationSize(rows=rows)
    expected = fill_legacy_table(rows)
    directory = stack.workdir / f"dump-{rows}"
    directory.mkdir(exist_ok=True)
    targets: list[str] = []
    for round_number in range(rounds):
        for side in ("migrate", "raw") if round_number % 2 == 0 else ("raw", "migrate"):
            if side == "migrate":
                run = _migrate(stack, migrated)
                size.migrate.append(run)
                log(
                    f"  migrate_chats {rows:,} rows: {run.seconds:.1f}s, "
                    f"peak {run.peak_rss_mib:.0f} MiB, exit {run.exit_code}"
                )
                if run.exit_code != 0:
                    raise RuntimeError(f"migrate_chats failed:\n{run.output}")
                targets, stored = _dump(migrated, directory)
                size.statistics_plan = statistics_plan(migrated)
                size.documents = stored
                size.missing_documents = expected - stored
                store.client().drop_database(migrated)
            else:
                run = _raw(stack, copied, targets)
                size.raw.append(run)
                log(f"  raw insert_many {rows:,} rows: {run.seconds:.1f}s, peak {run.peak_rss_mib:.0f} MiB")
                store.client().drop_database(copied)
    shutil.rmtree(directory, ignore_errors=True)
    return size.summary()
