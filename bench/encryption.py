"""Chat encryption's cost: append, newest page and search with CHAT_ENCRYPTION on vs off, in the same run.

    .venv/bin/python -m bench.encryption [--messages 200] [--rounds 10] [--per-round 20]

Starts a throw-away SecantusDB and a SQLite database under a temporary directory (nothing else is
needed), builds one session per mode, then times both modes interleaved (bench/timing.py) and
writes ``bench/results/encryption.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
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


def run(*, messages: int, rounds: int, per_round: int) -> dict[str, Any]:
    from django.conf import settings

    from bench.timing import interleaved
    from chats import selectors, services

    def mode(value: str) -> None:
        settings.CHAT_ENCRYPTION = value

    sessions = {}
    for value in ("off", "on"):
        mode(value)
        session = services.start_session(
            user_id=1 if value == "off" else 2, title="Bench: a long conversation"
        )
        for number in range(messages):
            services.append_message(
                session=session,
                role="user" if number % 2 == 0 else "assistant",
                content=f"Message {number}: my blood pressure was 135/85 this morning, is that fine? " * 3,
            )
        sessions[value] = session

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


def rows(*factories: Any) -> list[tuple[str, Any]]:
    return list(zip(NAMES, factories, strict=True))


NAMES = ("append", "newest page (50)", "search two words (20)", "search a prefix (20)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        _setup(Path(directory))
        results = run(messages=args.messages, rounds=args.rounds, per_round=args.per_round)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for name in NAMES:
        row = results[name]
        sys.stdout.write(
            f"{name:22} off p50 {row['off']['p50_ms']:.2f} ms p95 {row['off']['p95_ms']:.2f} ms | "
            f"on p50 {row['on']['p50_ms']:.2f} ms p95 {row['on']['p95_ms']:.2f} ms | "
            f"on/off {row['ratio_p50']}\n"
        )


if __name__ == "__main__":
    main()
