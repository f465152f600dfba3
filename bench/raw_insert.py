"""The migration's floor, run as its own process: ``insert_many`` of ready documents in batches.

``python -m bench.raw_insert URI DATABASE BATCH FILE:COLLECTION ...`` streams each BSON file (the
documents a ``migrate_chats`` run stored, dumped beforehand) into its collection, ``ordered=False``,
with the product's write concern. Run as a child so its peak RSS can be read like the command's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import bson
from pymongo import MongoClient


def insert_files(uri: str, database: str, batch_size: int, targets: list[str]) -> int:
    client: MongoClient[dict[str, Any]] = MongoClient(uri, w="majority")
    written = 0
    try:
        for target in targets:
            path, _, collection = target.rpartition(":")
            batch: list[dict[str, Any]] = []
            with Path(path).open("rb") as source:
                for document in bson.decode_file_iter(source):
                    batch.append(document)
                    if len(batch) >= batch_size:
                        client[database][collection].insert_many(batch, ordered=False)
                        written += len(batch)
                        batch = []
            if batch:
                client[database][collection].insert_many(batch, ordered=False)
                written += len(batch)
    finally:
        client.close()
    return written


if __name__ == "__main__":
    uri, database, batch_size, *targets = sys.argv[1:]
    print(insert_files(uri, database, int(batch_size), targets))
