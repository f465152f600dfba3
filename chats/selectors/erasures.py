"""The recorded erasures of a user (``Erasure`` rows on MySQL), read by their owner only."""

from __future__ import annotations

from chats.exceptions import ErasureNotFound
from chats.outbox.models import Erasure

MAX_ERASURE_ID = 2**63 - 1


def get_erasure(*, user_id: int, erasure_id: int) -> Erasure:
    """The caller's erasure, or ErasureNotFound — also for someone else's (never a 403)."""
    if not 0 < erasure_id <= MAX_ERASURE_ID:
        raise ErasureNotFound()
    erasure = Erasure.objects.filter(pk=erasure_id, user_id=user_id).first()
    if erasure is None:
        raise ErasureNotFound()
    return erasure
