"""Measure the stored size of chat documents and their indexes, per message (docs/SCALING.md).

Creates conversations through the real product path (``chats.services.turn.run_turn`` with the
offline responder: user message, assistant reply, token usage; a vote on every fifth reply) in a
fresh database on a SecantusDB this script starts, then reads ``collStats`` of every chat
collection. Prints JSON: bytes per document and per index, and the same scaled per 100M messages.

    python -m bench.storage_sizes [--turns 3000] [--users N] [--out bench/results/storage_sizes.json]

SecantusDB reports uncompressed BSON and index-key bytes; MongoDB's WiredTiger compresses data
(snappy, typically 2-4x on chat text) and prefix-compresses index keys, so these figures are an
upper bound for disk and the right order of magnitude for RAM (the cache holds uncompressed pages).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUESTIONS = [
    "I have had a dry cough for three days and a mild fever in the evenings. Should I be worried?",
    "What is a normal blood pressure for a 54 year old man who takes lisinopril every morning?",
    "My daughter has a rash on her arms after starting amoxicillin. Is that an allergy?",
    "Can I take ibuprofen together with my metformin and atorvastatin?",
    "How much water should I drink per day with kidney stones in the past?",
    "I feel dizzy when I stand up quickly, especially in the morning. What could cause this?",
    "What are the early signs of type 2 diabetes I should look out for?",
    "Is it safe to exercise with a resting heart rate of 95?",
]


def _setup_django(mongodb_uri: str, var_dir: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "medibot.settings.local",
            "MONGODB_URI": mongodb_uri,
            "MONGODB_DATABASE": "medibot_sizes",
            "MEDIBOT_VAR_DIR": var_dir,
            "CHAT_RESPONDER": "offline",
            "MONGODB_OPERATION_TIMEOUT_MS": "60000",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("migrate", database="chats", verbosity=0)


def _generate(turns: int, seed: int, users: int | None = None) -> dict[str, int]:
    from chats import services
    from chats.services import turn as conversation

    rng = random.Random(seed)
    users = users or max(1, turns // 30)
    sessions: dict[int, list[str]] = {}
    votes = 0
    for number in range(turns):
        user_id = 1 + rng.randrange(users)
        open_sessions = sessions.setdefault(user_id, [])
        session_id = rng.choice(open_sessions) if open_sessions and rng.random() < 0.8 else None
        turn = conversation.run_turn(user_id=user_id, text=rng.choice(QUESTIONS), session_id=session_id)
        if session_id is None:
            open_sessions.append(turn.session.session_id)
        if number % 5 == 0:
            services.vote(message=turn.assistant_message, user_id=user_id, vote_type="up")
            votes += 1
    try:  # the vocabulary counting the appends deferred (issue 19), as the minute job does it
        from chats.services.search_rebuild import count_deferred_terms
    except ImportError:  # an older tree counts in every append
        pass
    else:
        count_deferred_terms()
    return {"users": users, "sessions": sum(len(ids) for ids in sessions.values()), "votes": votes}


def _collection_stats() -> dict[str, Any]:
    from chats import store
    from chats.models import ChatMessage, ChatSession, MessageVote, TokenUsage

    models: list[Any] = [ChatSession, ChatMessage, TokenUsage, MessageVote]
    try:  # the per-user search vocabulary (issue 19); absent when measuring an older tree
        from chats.models import SearchTerm

        models.append(SearchTerm)
    except ImportError:
        pass
    stats = {}
    for model in models:
        collection = store.collection(model)
        raw = collection.database.command("collStats", collection.name)
        count = int(raw["count"]) or 1
        stats[collection.name] = {
            "count": int(raw["count"]),
            "avg_document_bytes": round(raw["size"] / count, 1),
            "index_bytes_per_document": {
                name: round(size / count, 1) for name, size in raw["indexSizes"].items()
            },
            "total_index_bytes_per_document": round(raw["totalIndexSize"] / count, 1),
        }
    return stats


def _index_bytes_per_message(stats: dict[str, Any]) -> float:
    """Every chat collection's index bytes over the number of messages."""
    messages = stats["chat_messages"]["count"] or 1
    total = sum(row["total_index_bytes_per_document"] * row["count"] for row in stats.values())
    return round(total / messages, 1)


def _per_100m_messages(stats: dict[str, Any]) -> dict[str, Any]:
    messages = stats["chat_messages"]["count"]
    scaled = {}
    for name, row in stats.items():
        per_message = row["count"] / messages
        documents = per_message * 100_000_000
        scaled[name] = {
            "documents": round(documents),
            "data_gib": round(documents * row["avg_document_bytes"] / 2**30, 2),
            "index_gib": round(documents * row["total_index_bytes_per_document"] / 2**30, 2),
            "index_gib_by_name": {
                index: round(documents * size / 2**30, 2)
                for index, size in row["index_bytes_per_document"].items()
            },
        }
    return scaled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--turns", type=int, default=3000, help="chat turns (user message + reply) to create")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--users", type=int, default=None, help="spread the turns over this many users (default: turns / 30)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from medibot.embedded import free_port, start_secantus, stop

    with tempfile.TemporaryDirectory(prefix="medibot-sizes-") as scratch:
        port = free_port()
        server = start_secantus(port=port, storage_path=str(Path(scratch) / "mongo"))
        try:
            _setup_django(f"mongodb://127.0.0.1:{port}/?directConnection=true", scratch)
            started = time.perf_counter()
            counts = _generate(args.turns, args.seed, args.users)
            elapsed = time.perf_counter() - started
            stats = _collection_stats()
        finally:
            from django.db import connections

            connections.close_all()
            stop(server)
    result = {
        "turns": args.turns,
        "generated": counts,
        "seconds": round(elapsed, 1),
        "collections": stats,
        "index_bytes_per_message": _index_bytes_per_message(stats),
        "per_100m_messages": _per_100m_messages(stats),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
