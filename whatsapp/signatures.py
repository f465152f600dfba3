"""Meta signs every webhook delivery: ``X-Hub-Signature-256: sha256=<HMAC-SHA256(app secret, raw body)>``."""

from __future__ import annotations

import hashlib
import hmac


def sign(body: bytes, *, secret: str) -> str:
    """The header value Meta sends for ``body`` (used by tests and the benchmark)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header: str | None, *, secret: str) -> bool:
    """Constant-time check of the header against the raw body."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(body, secret=secret), header.strip())
