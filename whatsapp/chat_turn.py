"""The WhatsApp channel's one way into the chat turn (the same turn the web and the API use).

Everything the channel stores in the chat store goes through ``take_turn``: when the project's
chat turn changes, this is the only function to retarget.
"""

from __future__ import annotations

from collections.abc import Iterator

from accounts.selectors import search_language_of
from chats.exceptions import SessionNotFound
from chats.models import Channel
from chats.responders.base import EhrSummary, Responder, Turn
from chats.services import Reply
from chats.services.turn import TurnResult, run_turn
from whatsapp import texts

TEXT_ONLY_MODEL = "whatsapp-text-only"


def take_turn(
    *, user_id: int, text: str, session_id: str | None, responder: Responder | None = None
) -> TurnResult:
    """One turn in ``session_id`` (a new ``whatsapp`` session when None or gone since): the user's
    message stored first, the reply with its usage, the outbox taking over while MongoDB is down;
    stemmed for search in the user's search language."""
    language = search_language_of(user_id=user_id)
    try:
        return run_turn(
            user_id=user_id,
            text=text,
            session_id=session_id or None,
            channel=Channel.WHATSAPP,
            responder=responder,
            language=language,
        )
    except SessionNotFound:
        if not session_id:
            raise
        return run_turn(
            user_id=user_id,
            text=text,
            session_id=None,
            channel=Channel.WHATSAPP,
            responder=responder,
            language=language,
        )


class TextOnlyResponder:
    """Answers media and locations: the channel takes text only (no provider call, no tokens)."""

    name = "whatsapp-text-only"

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        return Reply(content=texts.TEXT_ONLY, model=TEXT_ONLY_MODEL)

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        yield self.reply(history=history, message=message, ehr=ehr)
