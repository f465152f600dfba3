"""Chat encryption's cost: append, newest page, search and migrate_chats with CHAT_ENCRYPTION on vs
off, in the same run.

    .venv/bin/python -m bench.encryption [--messages 200] [--rounds 10] [--per-round 20]
        [--only append page search migrate] [--migrate-sessions 20] [--migrate-rounds 3]

Starts a throw-away SecantusDB and a SQLite database under a temporary directory (nothing else is
needed), builds one session per mode, then times both modes interleaved (bench/timing.py) and
writes ``bench/results/encryption.json`` (rows not run keep their last numbers there).

The migrate_chats row restores a nightly backup (``--source json``, written plaintext with
encryption off) of ``--migrate-sessions`` conversations into the store, once per mode per round
(order alternating), each run rolled back untimed before the next.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "encryption.json"


def _setup(directory: Path) -> None:
    from medibot.embedded import start_for_session

    _process, uri = start_for_session()
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "medibot.settings.local",
            "MONGODB_URI": uri,
            "MONGODB_DATABASE": "bench_encryption",
            "DATABASE_URL": f"sqlite:///{directory / 'bench.sqlite3'}",
            "MEDIBOT_VAR_DIR": str(directory),
            "MONGODB_OPERATION_TIMEOUT_MS": "30000",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", database="chats", verbosity=0)


def build_sessions(*, messages: int) -> dict[str, Any]:
    """One conversation of ``messages`` messages per mode ("off": user 1 in plaintext, "on": user 2
    encrypted), its vocabulary counted as the counting job does every 8 appends in production
    (no worker runs here); leaves CHAT_ENCRYPTION at "on"."""
    from django.conf import settings

    from chats import search_index, services

    sessions = {}
    for value in ("off", "on"):
        settings.CHAT_ENCRYPTION = value
        session = services.start_session(
            user_id=1 if value == "off" else 2, title="Bench: a long conversation"
        )
        for number in range(messages):
            services.append_message(
                session=session,
                role="user" if number % 2 == 0 else "assistant",
                content=f"Message {number}: my blood pressure was 135/85 this morning, is that fine? " * 3,
            )
        while search_index.count_deferred(session.user_id) == search_index.COUNT_BATCH:
            pass
        sessions[value] = session
    return sessions


def run(*, messages: int, rounds: int, per_round: int, only: list[str]) -> dict[str, Any]:
    from django.conf import settings

    from bench.timing import interleaved
    from chats import selectors, services

    def mode(value: str) -> None:
        settings.CHAT_ENCRYPTION = value

    sessions = build_sessions(messages=messages) if set(only) - {"migrate"} else {}

    def append(value: str) -> Any:
        def operation(number: int) -> object:
            mode(value)
            return services.append_message(
                session=sessions[value], role="user", content=f"Another reading, number {number}: 128/82."
            )

        return operation

    def newest_page(value: str) -> Any:
        def operation(number: int) -> object:
            mode(value)
            session = selectors.get_session(
                user_id=sessions[value].user_id, session_id=sessions[value].session_id
            )
            return selectors.message_page(session=session, limit=50)

        return operation

    def search(value: str, query: str) -> Any:
        def operation(number: int) -> object:
            mode(value)
            return selectors.search_chats(query=query, user_id=sessions[value].user_id, limit=20)

        return operation

    def search_word(value: str) -> Any:
        return search(value, "blood pressure")

    def search_prefix(value: str) -> Any:
        return search(value, "press")

    results: dict[str, Any] = {
        "messages_per_session": messages,
        "key_cache_seconds": settings.CHAT_ENCRYPTION_KEY_CACHE_SECONDS,
    }
    for name, factory in rows(append, newest_page, search_word, search_prefix):
        if ROW_GROUPS[name] not in only:
            continue
        summaries = interleaved(
            {"off": factory("off"), "on": factory("on")}, rounds=rounds, per_round=per_round
        )
        off, on = summaries["off"], summaries["on"]
        results[name] = {
            "off": off.as_json(with_samples=False),
            "on": on.as_json(with_samples=False),
            "ratio_p50": round(on.p50_ms / off.p50_ms, 3),
        }
    return results


MIGRATE_ROW = "migrate_chats (json restore)"
RUN_ID = re.compile(r"run (\S+)(?: \(resumed\))? finished in")


def run_migrate(*, sessions: int, messages: int, rounds: int) -> dict[str, Any]:
    """``migrate_chats --source json`` of a plaintext backup, encryption off vs on (wall time per run)."""
    from django.conf import settings
    from django.core.management import call_command

    from accounts.models import User
    from bench.timing import Summary
    from chats import backups, services

    call_command("migrate", database="default", verbosity=0)
    settings.CHAT_ENCRYPTION = "off"
    owners = [User.objects.create(username=f"bench-migrate-{number}") for number in range(4)]
    for number in range(sessions):
        session = services.start_session(user_id=owners[number % len(owners)].pk, title=f"Restore {number}")
        for order in range(messages):
            services.append_message(
                session=session,
                role="user" if order % 2 == 0 else "assistant",
                content=f"Reading {order}: my blood pressure was 135/85 this morning, is that fine? " * 3,
            )
    directory = Path(tempfile.mkdtemp(prefix="bench-migrate-"))
    backups.backup_changed_sessions(directory=str(directory))
    for owner in owners:  # the restore target: the same store, emptied of these users' chats
        services.clear_user_chats(user_id=owner.pk)

    samples: dict[str, list[float]] = {"off": [], "on": []}
    for round_number in range(rounds + 1):  # round 0 warms up (keys created, caches filled)
        modes = ("off", "on") if round_number % 2 == 0 else ("on", "off")
        for value in modes:
            settings.CHAT_ENCRYPTION = value
            out = io.StringIO()
            started = time.perf_counter()
            call_command(
                "migrate_chats", "--source", "json", "--path", str(directory), "--restart", stdout=out
            )
            elapsed = (time.perf_counter() - started) * 1000
            match = RUN_ID.search(out.getvalue())
            if match is None:
                raise RuntimeError(f"migrate_chats said: {out.getvalue()[-500:]}")
            call_command("migrate_chats", "--rollback", match.group(1), stdout=io.StringIO())
            if round_number:
                samples[value].append(elapsed)
    off, on = (
        Summary.of(samples[value], busy_seconds=0, errors=0, first_error="") for value in ("off", "on")
    )
    return {
        "sessions": sessions,
        "messages_per_session": messages,
        "off": off.as_json(with_samples=True),
        "on": on.as_json(with_samples=True),
        "ratio_p50": round(on.p50_ms / off.p50_ms, 3),
    }


def rows(*factories: Any) -> list[tuple[str, Any]]:
    return list(zip(NAMES, factories, strict=True))


NAMES = ("append", "newest page (50)", "search two words (20)", "search a prefix (20)")
ROW_GROUPS = dict(zip(NAMES, ("append", "page", "search", "search"), strict=True))
GROUPS = ("append", "page", "search", "migrate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--only", nargs="+", choices=GROUPS, default=list(GROUPS))
    parser.add_argument("--migrate-sessions", type=int, default=20)
    parser.add_argument("--migrate-messages", type=int, default=50)
    parser.add_argument("--migrate-rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        _setup(Path(directory))
        results = run(messages=args.messages, rounds=args.rounds, per_round=args.per_round, only=args.only)
        if "migrate" in args.only:
            results[MIGRATE_ROW] = run_migrate(
                sessions=args.migrate_sessions, messages=args.migrate_messages, rounds=args.migrate_rounds
            )
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results = {**previous, **results}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in (*NAMES, MIGRATE_ROW):
        if name not in results:
            continue
        row = results[name]
        sys.stdout.write(
            f"{name:22} off p50 {row['off']['p50_ms']:.2f} ms p95 {row['off']['p95_ms']:.2f} ms | "
            f"on p50 {row['on']['p50_ms']:.2f} ms p95 {row['on']['p95_ms']:.2f} ms | "
            f"on/off {row['ratio_p50']}\n"
        )


if __name__ == "__main__":
    main()
