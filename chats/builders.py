"""The one builder of chat documents: message, session, token usage and vote.

The live turn, the outbox, the importers, the fake-data generator and the test factories all
build their documents here, so a field or a rule (the content hash, the "(no reply)" text of a
failed reply, the search terms) changes in one place.
"""

from __future__ import annotations

import hashlib


def content_hash(content: str) -> str:
    """SHA-256 of the message text (hex): duplicate detection and import verification."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()
