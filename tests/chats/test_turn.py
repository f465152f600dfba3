"""The one chat turn (``chats.services.turn``), called as a view or a Celery task calls it."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from chats import selectors, store
from chats.exceptions import ReplyFailed
from chats.models import Channel, ChatMessage, MessageStatus, TokenUsage
from chats.outbox import services as outbox
from chats.outbox.models import OutboxEntry
from chats.responders.base import EhrSummary, Reply, ResponderError, Turn
from chats.services.turn import StreamEvent, run_turn, stream_turn
from tests.chats.factories import next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


class ScriptedResponder:
    """A provider that answers from a script (the outside world, not our store)."""

    name = "scripted"

    def __init__(self, *, chunks: list[str] | None = None, fail: bool = False) -> None:
        self.chunks = chunks or ["Drink ", "water."]
        self.fail = fail
        self.seen_history: list[Turn] | None = None

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        self.seen_history = history
        if self.fail:
            raise ResponderError("provider down", code="provider_timeout")
        return Reply(
            content="".join(self.chunks), model="m1", prompt_tokens=7, completion_tokens=5, cost=Decimal(1)
        )

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        self.seen_history = history
        for chunk in self.chunks:
            if self.fail:
                raise ResponderError("provider down", code="provider_timeout")
            yield chunk
        yield Reply(content="".join(self.chunks), model="m1", prompt_tokens=7, completion_tokens=5)


def stored(user_id: int, session_id: str) -> list[ChatMessage]:
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    return list(selectors.iter_session_messages(session=session))


def test_a_json_turn_stores_the_question_then_the_reply_with_its_usage() -> None:
    session = session_with_messages(messages=2)
    responder = ScriptedResponder()

    result = run_turn(
        user_id=session.user_id, session_id=session.session_id, text="Headache?", responder=responder
    )

    assert not result.queued
    assert [(m.order, m.role, m.message_id) for m in stored(session.user_id, session.session_id)][2:] == [
        (3, "user", result.user_message.message_id),
        (4, "assistant", result.assistant_message.message_id),
    ]
    assert result.assistant_message.parent_message_id == result.user_message.message_id
    assert result.usage is not None
    assert TokenUsage.objects.get(pk=result.usage.pk).total_tokens == 12
    assert [turn.content for turn in responder.seen_history or []] == [
        "message 1 of the session",
        "message 2 of the session",
    ]


def test_a_turn_without_a_session_starts_one_on_the_given_channel() -> None:
    user_id = next_user_id()

    result = run_turn(
        user_id=user_id, session_id=None, text="Hi", channel=Channel.WHATSAPP, responder=ScriptedResponder()
    )

    session = selectors.get_session(user_id=user_id, session_id=result.session.session_id)
    assert session.channel == Channel.WHATSAPP
    assert session.message_count == 2


def test_a_streamed_turn_stores_the_question_first_and_the_whole_reply_at_the_end() -> None:
    session = session_with_messages(messages=1)

    streamed = stream_turn(
        user_id=session.user_id, session_id=session.session_id, text="Fever?", responder=ScriptedResponder()
    )
    assert [m.content for m in stored(session.user_id, session.session_id)] == [
        "message 1 of the session",
        "Fever?",
    ]
    events: list[StreamEvent] = list(streamed.events)

    assert [event.event for event in events] == ["token", "token", "done"]
    answer = stored(session.user_id, session.session_id)[-1]
    assert (answer.content, answer.order) == ("Drink water.", 3)
    assert events[-1].data["assistant_message_id"] == answer.message_id
    assert events[-1].data["total_tokens"] == 12


def test_a_provider_failure_keeps_the_question_and_stores_a_failed_reply() -> None:
    session = session_with_messages(messages=0)

    with pytest.raises(ReplyFailed) as failure:
        run_turn(
            user_id=session.user_id,
            session_id=session.session_id,
            text="Dizzy?",
            responder=ScriptedResponder(fail=True),
        )

    question, answer = stored(session.user_id, session.session_id)
    assert question.content == "Dizzy?"
    assert (answer.status, answer.content, answer.error_info) == (
        MessageStatus.FAILED,
        "(no reply)",
        {"code": "provider_timeout"},
    )
    assert failure.value.extra["assistant_message_id"] == answer.message_id


def test_a_provider_failure_while_streaming_ends_with_an_error_event_and_a_failed_reply() -> None:
    session = session_with_messages(messages=0)

    streamed = stream_turn(
        user_id=session.user_id,
        session_id=session.session_id,
        text="Dizzy?",
        responder=ScriptedResponder(fail=True),
    )
    events = list(streamed.events)

    assert [event.event for event in events] == ["error"]
    assert stored(session.user_id, session.session_id)[-1].status == MessageStatus.FAILED


@pytest.mark.parametrize("streamed", [False, True])
def test_a_session_with_queued_writes_queues_the_whole_turn_in_the_outbox(streamed: bool) -> None:
    session = session_with_messages(messages=1)
    outbox.enqueue_message(
        user_id=session.user_id,
        session_id=session.session_id,
        message_id="queued-earlier",
        role="user",
        content="sent while MongoDB was down",
        created_at=store.now(),
    )
    arguments = {"user_id": session.user_id, "session_id": session.session_id, "text": "And now?"}

    if streamed:
        queued = stream_turn(**arguments, responder=ScriptedResponder()).queued  # type: ignore[arg-type]
        assert queued is not None
    else:
        queued = run_turn(**arguments, responder=ScriptedResponder())  # type: ignore[arg-type]

    assert queued.queued
    assert session.message_count == 1 == len(stored(session.user_id, session.session_id))
    entries = OutboxEntry.objects.filter(session_id=session.session_id).order_by("id")
    assert [entry.object_id for entry in entries] == [
        "queued-earlier",
        queued.user_message.message_id,
        queued.assistant_message.message_id,
    ]
