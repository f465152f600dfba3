"""Checks every write applies to its input before anything is stored."""

from __future__ import annotations

import logging
import re
from typing import Any

from django.conf import settings

from chats.exceptions import InvalidChatInput

logger = logging.getLogger(__name__)


logger = logging.getLogger(__name__)

PUBLIC_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}\Z")  # \Z: "$" would accept a trailing newline
MAX_TAGS = 20
MAX_TAG_CHARS = 50
UPDATABLE_SESSION_FIELDS = frozenset({"title", "metadata", "tags", "is_active", "is_archived", "is_pinned"})


def validate_public_id(value: str, *, what: str = "session_id") -> str:
    if not isinstance(value, str) or not PUBLIC_ID.match(value):
        raise InvalidChatInput(
            f"{what} must be 1-64 characters of letters, digits, '_', '.', ':' or '-' (a UUID works)."
        )
    return value


def validate_text(value: str, *, what: str = "message", max_chars: int | None = None) -> str:
    limit = max_chars or settings.CHAT_MAX_MESSAGE_CHARS
    if not isinstance(value, str):
        raise InvalidChatInput(f"{what} must be a string.")
    if not value.strip():
        raise InvalidChatInput(f"{what} must not be empty.")
    if len(value) > limit:
        raise InvalidChatInput(f"{what} is too long: {len(value)} characters, at most {limit} are allowed.")
    if "\x00" in value:
        raise InvalidChatInput(f"{what} must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidChatInput(f"{what} is not valid Unicode text (lone surrogate).") from exc
    return value


def validate_tags(tags: list[str]) -> list[str]:
    if not isinstance(tags, list) or len(tags) > MAX_TAGS:
        raise InvalidChatInput(f"tags must be a list of at most {MAX_TAGS} strings.")
    cleaned: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_TAG_CHARS:
            raise InvalidChatInput(
                f"each tag must be a non-empty string of at most {MAX_TAG_CHARS} characters."
            )
        validate_text(tag, what="tag", max_chars=MAX_TAG_CHARS)
        if tag.strip() not in cleaned:
            cleaned.append(tag.strip())
    return cleaned


def validate_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """JSON objects only, without keys MongoDB would read as operators or paths."""
    if not isinstance(metadata, dict):
        raise InvalidChatInput("metadata must be a JSON object.")
    _check_keys(metadata, depth=0)
    return metadata


def _check_keys(value: Any, *, depth: int) -> None:
    if depth > 10:
        raise InvalidChatInput("metadata is nested too deeply (at most 10 levels).")
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "." in key or "\x00" in key:
                raise InvalidChatInput("metadata keys must not start with '$' or contain '.' or NUL.")
            _check_keys(item, depth=depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, depth=depth + 1)
    elif isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise InvalidChatInput("metadata integers must fit in 64 bits (BSON has no larger integer).")


def title_from(text: str, *, max_chars: int = 80) -> str:
    """The first line of ``text``, whitespace collapsed, cut at a word boundary to ``max_chars``."""
    collapsed = " ".join(text.split())
    if len(collapsed) <= max_chars:
        return collapsed
    cut = collapsed[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"
