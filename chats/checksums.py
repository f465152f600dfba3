"""SHA-256 of backup files and export members, read in 1 MiB blocks: a backup or export of any size
is checked without holding it in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO

BLOCK_BYTES = 1 << 20


def sha256_stream(stream: IO[bytes]) -> str:
    """The hex SHA-256 of what is left to read in ``stream``."""
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(BLOCK_BYTES), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    with path.open("rb") as stream:
        return sha256_stream(stream)
