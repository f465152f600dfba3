"""Replies as WhatsApp shows them: its own light markup, and at most 4,096 characters a message."""

from __future__ import annotations

import re

MAX_CHARS = 4096

_FENCE = re.compile(r"```.*?```", re.DOTALL)
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_RULE = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_BOLD_MARK = "\x00"


def _inline(text: str) -> str:
    text = _LINK.sub(r"\1 (\2)", text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{m.group(1)}{_BOLD_MARK}", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _RULE.sub("", text)
    text = _BULLET.sub(r"\1• ", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text)
    return text.replace(_BOLD_MARK, "*")


def to_whatsapp(markdown: str) -> str:
    """Markdown (as LLMs write it) reduced to WhatsApp's ``*bold*``, ``_italic_``, ``~strike~``,
    ```` ```mono``` ````; code blocks are kept as they are."""
    pieces: list[str] = []
    position = 0
    for fence in _FENCE.finditer(markdown):
        pieces.append(_inline(markdown[position : fence.start()]))
        body = fence.group(0)[3:-3]
        body = body.split("\n", 1)[1] if "\n" in body and body.split("\n", 1)[0].strip().isalnum() else body
        pieces.append(f"```{body}```")
        position = fence.end()
    pieces.append(_inline(markdown[position:]))
    return re.sub(r"\n{3,}", "\n\n", "".join(pieces)).strip()


def _hard_split(text: str, limit: int) -> list[str]:
    """A paragraph longer than the limit: cut at a line break, else a space, else anywhere."""
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        parts.append(text)
    return parts


def split(text: str, *, limit: int = MAX_CHARS) -> list[str]:
    """Messages of at most ``limit`` characters, cut at paragraph boundaries where possible."""
    messages: list[str] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        for piece in _hard_split(paragraph, limit) if len(paragraph) > limit else [paragraph]:
            joined = f"{current}\n\n{piece}" if current else piece
            if len(joined) <= limit:
                current = joined
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages
