"""Phone numbers as WhatsApp sends them (``4915112345678``, no plus) to E.164 (``+4915112345678``)."""

from __future__ import annotations

import phonenumbers


def to_e164(raw: str) -> str | None:
    """E.164 for a WhatsApp id or a written number with its country code, or None when invalid."""
    if not isinstance(raw, str) or not 3 <= len(raw) <= 32:
        return None
    text = raw.strip()
    if text.startswith("00"):
        text = text[2:]
    if not text.startswith("+"):
        text = "+" + text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(e164: str) -> str:
    """The last digits only, for pages and logs that must not show the whole number."""
    return f"…{e164[-3:]}" if len(e164) > 3 else "…"
