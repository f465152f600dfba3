"""Brute-force protection for the token endpoint.

``LoginFailureThrottle`` allows ``AUTH_LOGIN_FAILURE_RATE`` (default ``"5/min"``) failed logins
per client IP and username; successful logins are not counted. The client IP comes from DRF's
``get_ident``, so set ``REST_FRAMEWORK["NUM_PROXIES"]`` in production or a forged
``X-Forwarded-For`` header gets a fresh budget per request.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.models import User

DEFAULT_LOGIN_FAILURE_RATE = "5/min"
logger = logging.getLogger(__name__)


class LoginThrottled(Throttled):
    default_detail = "Too many failed login attempts for this username from your address."
    extra_detail_singular = "Try again in {wait} second."
    extra_detail_plural = "Try again in {wait} seconds."
    default_code = "login_throttled"


class LoginFailureThrottle(SimpleRateThrottle):
    """Counts failed logins per client IP + username in a fixed window opened by the first attempt.

    Every attempt reserves a slot *before* the password is checked, with an atomic cache
    increment, so a burst of parallel guesses cannot all pass the check before any failure is
    recorded; ``forgive()`` hands the slot back once a login succeeds.
    """

    scope = "auth_login_failure"
    num_requests: int | None
    duration: int | None

    def __init__(self) -> None:
        super().__init__()
        self.reserved = False

    def get_rate(self) -> str | None:
        """Read per request, so ``override_settings`` and deploy-time changes apply."""
        rate: str | None = getattr(settings, "AUTH_LOGIN_FAILURE_RATE", DEFAULT_LOGIN_FAILURE_RATE)
        return rate

    def get_cache_key(self, request: Request, view: APIView) -> str:
        """Hashed, so any submitted username makes a valid key for every cache backend.

        Usernames are folded as the login lookup folds them (NFKC, case-insensitive collation),
        so ``Alice`` and ``alice`` share one budget.
        """
        data = request.data if isinstance(request.data, Mapping) else {}
        username = data.get("username")
        folded = User.normalize_username(username).casefold() if isinstance(username, str) else ""
        digest = hashlib.sha256(f"{self.get_ident(request)}\0{folded}".encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": digest}

    @property
    def _opened_key(self) -> str:
        return f"{self.key}:opened"

    def allow_request(self, request: Request, view: APIView) -> bool:
        """Fails open (and logs) when the cache is unreachable: a Redis outage must not stop
        logins; brute-force protection resumes with the cache."""
        try:
            return self._allow_request(request, view)
        except Exception as exc:  # the cache backends' connection errors differ per backend
            logger.warning(
                "login throttle not enforced: cache unavailable", extra={"error": exc.__class__.__name__}
            )
            self.reserved = False
            return True

    def _allow_request(self, request: Request, view: APIView) -> bool:
        limit, window = self.num_requests, self.duration
        if limit is None or window is None:
            return True
        self.key = self.get_cache_key(request, view)
        self.now = self.timer()
        self.cache.add(self._opened_key, self.now, window)
        self.cache.add(self.key, 0, window)
        try:
            attempts = self.cache.incr(self.key)
        except ValueError:  # the window closed between add() and incr(): this attempt opens a new one
            self.cache.set_many({self.key: 1, self._opened_key: self.now}, window)
            attempts = 1
        self.reserved = attempts <= limit
        return self.reserved

    def forgive(self) -> None:
        """The attempt succeeded: give its slot back so only failures count."""
        if self.reserved and self.key is not None:
            try:
                self.cache.decr(self.key)
            except ValueError:  # window already closed, nothing left to give back
                pass
            except Exception as exc:  # cache unreachable: the slot expires with its window
                logger.warning("login throttle: cache unavailable", extra={"error": exc.__class__.__name__})
            self.reserved = False

    def wait(self) -> float:
        opened: float = self.cache.get(self._opened_key, self.now)
        return max(0.0, opened + (self.duration or 0) - self.now)
