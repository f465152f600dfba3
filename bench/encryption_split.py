"""Where the newest page's extra time goes with CHAT_ENCRYPTION on: the page read of
``bench.encryption`` and its parts, on vs off, interleaved in the same run.

    .venv/bin/python -m bench.encryption_split [--messages 200] [--rounds 10] [--per-round 20]

Parts (p50 each, ms): the page's aggregation alone (server and transfer, documents left
undecoded), their decoding by the ``chats`` decoder (on: each sealed value decrypted as it is
decoded), and the session read's title decryption. Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.encryption import _setup, build_sessions

PAGE = 50


def run(*, messages: int, rounds: int, per_round: int) -> list[tuple[str, float, float]]:
    from bson import Int64
    from bson import decode as bson_decode
    from bson.raw_bson import RawBSONDocument
    from django.conf import settings
    from django.db import connections

    from bench.timing import interleaved
    from chats import selectors
    from chats.models import ChatMessage, ChatSession
    from medibot.routers import CHATS_ALIAS

    sessions = build_sessions(messages=messages)
    connection: Any = connections[CHATS_ALIAS]
    options = connection.database.codec_options
    raw_options = options.with_options(document_class=RawBSONDocument, type_registry=None)
    message_rows = connection.get_collection(ChatMessage._meta.db_table, codec_options=raw_options)
    session_rows = connection.get_collection(ChatSession._meta.db_table, codec_options=raw_options)

    def page(value: str) -> Any:
        def operation(number: int) -> object:
            settings.CHAT_ENCRYPTION = value
            session = selectors.get_session(
                user_id=sessions[value].user_id, session_id=sessions[value].session_id
            )
            return selectors.message_page(session=session, limit=PAGE)

        return operation

    def read(value: str) -> list[RawBSONDocument]:
        session = sessions[value]
        window = {"$gte": messages - PAGE + 1, "$lte": messages}
        indexed = {"user_id": Int64(session.user_id), "session_id": session.pk, "branch": 0, "order": window}
        return list(message_rows.aggregate([{"$match": indexed}, {"$sort": {"order": 1}}]))

    def read_session(value: str) -> list[RawBSONDocument]:
        session = sessions[value]
        indexed = {"user_id": Int64(session.user_id), "session_id": session.session_id}
        return list(session_rows.aggregate([{"$match": indexed}]))

    documents = {value: read(value) for value in sessions}
    titles = {value: read_session(value) for value in sessions}

    layers = {
        "page off": page("off"),
        "page on": page("on"),
        "read off": lambda number: read("off"),
        "read on": lambda number: read("on"),
        "decode off": lambda number: [bson_decode(d.raw, codec_options=options) for d in documents["off"]],
        "decode on": lambda number: [bson_decode(d.raw, codec_options=options) for d in documents["on"]],
        "title off": lambda number: [bson_decode(d.raw, codec_options=options) for d in titles["off"]],
        "title on": lambda number: [bson_decode(d.raw, codec_options=options) for d in titles["on"]],
    }

    def timed(value: str, operation: Any) -> Any:
        def with_mode(number: int) -> object:
            settings.CHAT_ENCRYPTION = value
            return operation(number)

        return with_mode

    summaries = interleaved(
        {name: timed(name.rsplit(" ", 1)[1], operation) for name, operation in layers.items()},
        rounds=rounds,
        per_round=per_round,
    )
    p50 = {name: summary.p50_ms for name, summary in summaries.items()}
    sizes = {value: sum(len(document.raw) for document in documents[value]) for value in documents}
    return [
        ("newest page (the bench row)", p50["page off"], p50["page on"]),
        (f"  its aggregation ({sizes['off']} vs {sizes['on']} bytes)", p50["read off"], p50["read on"]),
        ("  its decoding (on: with each value's decryption)", p50["decode off"], p50["decode on"]),
        ("  the session's title (get_session)", p50["title off"], p50["title on"]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        _setup(Path(directory))
        rows = run(messages=args.messages, rounds=args.rounds, per_round=args.per_round)
    sys.stdout.write(f"{'p50, ms':50} {'off':>8} {'on':>8} {'on-off':>8}\n")
    for name, off, on in rows:
        sys.stdout.write(f"{name:50} {off:8.3f} {on:8.3f} {on - off:8.3f}\n")
    parts = sum(on - off for _, off, on in rows[1:])
    sys.stdout.write(f"{'sum of the parts':50} {'':8} {'':8} {parts:8.3f}\n")


if __name__ == "__main__":
    main()
