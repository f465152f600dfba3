"""Per-user rate limits of the expensive API operations (chat sends, exports).

Views name their budget with ``throttle_scope`` (``chat_send``, ``chat_export``); the rates are
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (settings ``CHAT_SEND_RATE``, ``CHAT_EXPORT_RATE``).
Counters live in the shared cache (Redis in production), so every web process shares one budget
per user. When the cache itself is unreachable the limit is not enforced for that request (and a
warning is logged): a Redis outage must not stop patients from chatting — the outbox guarantees
say messages are accepted whenever MySQL is up.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rest_framework.throttling import ScopedRateThrottle

if TYPE_CHECKING:  # DRF's APIView imports the throttle classes while it is being defined
    from rest_framework.request import Request
    from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class ResilientScopedRateThrottle(ScopedRateThrottle):
    """DRF's scoped throttle (per user id, else per client IP) that fails open on cache errors."""

    def get_rate(self) -> str | None:
        """Read per request (DRF freezes the rates at import), so deploy-time and test overrides apply."""
        from rest_framework.settings import api_settings

        rates: dict[str, Any] = api_settings.DEFAULT_THROTTLE_RATES
        return rates.get(self.scope) if self.scope else None

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception as exc:  # the cache backend's connection errors differ per backend
            logger.warning(
                "rate limit not enforced: cache unavailable",
                extra={"scope": getattr(view, "throttle_scope", None), "error": exc.__class__.__name__},
            )
            return True
