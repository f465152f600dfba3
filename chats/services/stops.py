"""Stopping a streamed reply from another request: a short-lived flag per user and session.

The page asks to stop with its own request (``POST /api/chat/sessions/<id>/stop``) because a
proxy in front of the site may never tell the server that the client went away. The flag lives
in the shared cache (Redis in production), so the request may land on another worker than the
stream; the streaming turn clears it when it starts and reads it between chunks.
"""

from __future__ import annotations

import logging

from django.core.cache import caches

from chats import selectors

logger = logging.getLogger(__name__)

STOP_FLAG_SECONDS = 120  # longer than any provider's gap between two chunks; expires on its own


def _key(user_id: int, session_id: str) -> str:
    return f"chat-stop:{user_id}:{session_id}"


def request_stop(*, user_id: int, session_id: str) -> None:
    """Ask the reply streaming in ``session_id`` to stop; SessionNotFound for someone else's.

    A stop with nothing streaming is harmless: the next turn clears the flag when it starts."""
    selectors.get_session(user_id=user_id, session_id=session_id)
    caches["default"].set(_key(user_id, session_id), 1, timeout=STOP_FLAG_SECONDS)
    logger.info("chat stream stop requested", extra={"user_id": user_id, "session_id": session_id})


def stop_requested(*, user_id: int, session_id: str) -> bool:
    """Whether a stop was asked for; a cache that cannot answer never stops a reply."""
    try:
        return bool(caches["default"].get(_key(user_id, session_id)))
    except Exception:
        logger.warning("stop flag unreadable", extra={"user_id": user_id, "session_id": session_id})
        return False


def clear_stop(*, user_id: int, session_id: str) -> None:
    """Forget a stop flag (a turn starts, or a stop was carried out)."""
    try:
        caches["default"].delete(_key(user_id, session_id))
    except Exception:
        logger.warning("stop flag not cleared", extra={"user_id": user_id, "session_id": session_id})
