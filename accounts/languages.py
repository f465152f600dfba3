"""The language a user's chats are searched in: ``auto`` (detected per message) or a fixed one.

``chats.search`` stems in exactly these languages (a test keeps the two lists equal); this app
never imports ``chats``, so the codes are spelled out here.
"""

from __future__ import annotations

AUTO = "auto"
SEARCH_LANGUAGES = ("en", "fr", "es", "de", "it", "pt", "nl")
SEARCH_LANGUAGE_CHOICES = [
    (AUTO, "Detect per message"),
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("de", "German"),
    ("it", "Italian"),
    ("pt", "Portuguese"),
    ("nl", "Dutch"),
]
MAX_ACCEPT_LANGUAGE_CHARS = 500  # a longer header is not a browser's: ignored


def unsupported_message(value: object) -> str:
    return (
        f"'{value}' is not a supported search language: use {AUTO} or one of {', '.join(SEARCH_LANGUAGES)}."
    )


def from_accept_language(header: str) -> str:
    """The supported language an ``Accept-Language`` header prefers most (by q-value, then by
    order; a region such as ``fr-CH`` counts as its language), ``auto`` when none is supported."""
    if not header or len(header) > MAX_ACCEPT_LANGUAGE_CHARS:
        return AUTO
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header.split(",")):
        tag, _, params = entry.strip().partition(";")
        language = tag.strip().split("-")[0].lower()
        if language not in SEARCH_LANGUAGES:
            continue
        ranked.append((-_quality(params), position, language))
    ranked = [item for item in ranked if item[0] < 0]  # q=0: "not acceptable"
    return min(ranked)[2] if ranked else AUTO


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0
