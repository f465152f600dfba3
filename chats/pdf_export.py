"""One conversation as a PDF to hand to a clinician (ReportLab): title, dates, who said what and
when, the text as text (never interpreted as markup) and each reply's sources.

Text is set in DejaVu Sans when the system has it (most scripts, accents, symbols); otherwise in
Helvetica, where characters outside Latin-1 print as "?" rather than failing the export.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from xml.sax.saxutils import escape  # nosec B406 - escapes text for ReportLab's markup; parses no XML

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from chats import branches
from chats.exporters import ROLE_NAMES, citation_lines
from chats.models import ChatMessage, ChatSession

FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/local/share/fonts/DejaVuSans.ttf"),
)
UNICODE_FONT = "MedibotSans"


def _font() -> str:
    if UNICODE_FONT in pdfmetrics.getRegisteredFontNames():
        return UNICODE_FONT
    for candidate in FONT_CANDIDATES:
        if candidate.is_file():
            pdfmetrics.registerFont(TTFont(UNICODE_FONT, str(candidate)))
            return UNICODE_FONT
    return "Helvetica"


def _text(value: str, font: str) -> str:
    """Plain text as a Paragraph's markup: escaped, line breaks kept."""
    if font == "Helvetica":
        value = value.encode("latin-1", "replace").decode("latin-1")
    return escape(value).replace("\n", "<br/>")


def session_pdf(*, session: ChatSession, messages: Iterable[ChatMessage]) -> bytes:
    font = _font()
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontName=font, fontSize=10, leading=13)
    heading = ParagraphStyle("heading", parent=body, fontSize=10, textColor="#444444", spaceBefore=6)
    title = ParagraphStyle("title", parent=styles["Title"], fontName=font)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor="#555555")
    story = [
        Paragraph(_text(session.title or "Conversation", font), title),
        Paragraph(
            _text(
                f"Started {session.created_at:%Y-%m-%d %H:%M} UTC · last message "
                f"{session.last_message_at:%Y-%m-%d %H:%M} UTC · {branches.path_length(session)} messages"
                if session.last_message_at
                else f"Started {session.created_at:%Y-%m-%d %H:%M} UTC",
                font,
            ),
            small,
        ),
        Paragraph(
            _text(f"Session {session.session_id}. Exported from Medibot. Not medical advice.", font), small
        ),
        Spacer(1, 4 * mm),
    ]
    for message in messages:
        role = ROLE_NAMES.get(message.role, message.role.capitalize())
        model = f" ({message.model})" if message.model else ""
        story.append(
            Paragraph(_text(f"{role}{model} — {message.created_at:%Y-%m-%d %H:%M:%S} UTC", font), heading)
        )
        story.append(Paragraph(_text(message.content, font), body))
        for number, line in enumerate(citation_lines(message), start=1):
            story.append(Paragraph(_text(f"[{number}] {line}", font), small))
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=session.title or "Conversation",
        author="Medibot",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    document.build(story)
    return buffer.getvalue()
