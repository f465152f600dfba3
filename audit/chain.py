"""The hash that links each audit event to the one before it.

SHA-256 over a canonical JSON array of the event's fields and the previous event's hash. Editing
any field of a stored event changes its hash; a recomputed hash that no longer matches, or a
``prev_hash`` that no longer names the event before, is a broken link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC

from audit.models import AuditEvent


def event_hash(event: AuditEvent) -> str:
    """The hash an event must carry, computed from its fields as stored.

    ``detail`` came later: it is hashed only when present, so events written before it keep their hash.
    """
    canonical = json.dumps(
        [
            event.prev_hash,
            event.sequence,
            event.created_at.astimezone(UTC).isoformat(timespec="microseconds"),
            event.actor_id,
            event.action,
            event.object_type,
            event.object_id,
            event.owner_id,
            event.outcome,
            event.client_ip,
            *([event.detail] if event.detail else []),
        ],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
