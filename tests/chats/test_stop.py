"""Stopping a streamed reply (issue 17): by an explicit stop request or by the client leaving."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chats import selectors
from chats.exceptions import SessionNotFound
from chats.models import ChatMessage, MessageStatus, TokenUsage
from chats.responders.base import EhrSummary, Reply, Turn
from chats.services import stops
from chats.services.turn import stream_turn
from tests.chats.factories import next_user_id, session_with_messages

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


class SlowStreamResponder:
    """A provider streaming a long reply chunk by chunk; records when its upstream is closed."""

    name = "slow"

    def __init__(self, chunks: int = 50) -> None:
        self.chunks = [f"word{number} " for number in range(chunks)]
        self.closed = False
        self.finished = False

    def reply(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Reply:
        raise AssertionError("the streamed turn never asks for a whole reply")

    def stream(self, *, history: list[Turn], message: str, ehr: EhrSummary | None) -> Iterator[str | Reply]:
        try:
            yield from self.chunks
            self.finished = True
            yield Reply(content="".join(self.chunks), model="m1", prompt_tokens=9, completion_tokens=50)
        finally:
            self.closed = True


def stored(user_id: int, session_id: str) -> list[ChatMessage]:
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    return list(selectors.iter_session_messages(session=session))


def test_a_stop_request_ends_the_stream_and_stores_the_partial_reply_as_stopped() -> None:
    session = session_with_messages(messages=2)
    responder = SlowStreamResponder()
    streamed = stream_turn(
        user_id=session.user_id, session_id=session.session_id, text="Tell me more", responder=responder
    )
    events = iter(streamed.events)
    first, second = next(events), next(events)

    stops.request_stop(user_id=session.user_id, session_id=session.session_id)
    rest = list(events)

    assert [first.event, second.event] == ["token", "token"]
    assert [event.event for event in rest] == ["stopped"]
    answer = stored(session.user_id, session.session_id)[-1]
    assert (answer.role, answer.status, answer.content) == (
        "assistant",
        MessageStatus.STOPPED,
        "word0 word1 ",
    )
    assert rest[0].data["assistant_message_id"] == answer.message_id
    assert responder.closed
    assert not responder.finished


def test_a_stopped_reply_keeps_its_token_usage_as_far_as_known() -> None:
    session = session_with_messages(messages=0)
    streamed = stream_turn(
        user_id=session.user_id,
        session_id=session.session_id,
        text="one two three",
        responder=SlowStreamResponder(),
    )
    events = iter(streamed.events)
    next(events)
    next(events)
    next(events)
    stops.request_stop(user_id=session.user_id, session_id=session.session_id)
    stopped = list(events)[-1]

    usage = TokenUsage.objects.get(user_id=session.user_id)
    assert usage.completion_tokens == 4  # three words streamed: the offline estimate
    assert usage.prompt_tokens > 0
    assert stopped.data["total_tokens"] == usage.total_tokens
    answer = stored(session.user_id, session.session_id)[-1]
    assert answer.metadata["tokens_estimated"] is True


def test_a_client_that_leaves_mid_stream_leaves_the_partial_reply_stored_as_stopped() -> None:
    session = session_with_messages(messages=0)
    responder = SlowStreamResponder()
    streamed = stream_turn(
        user_id=session.user_id, session_id=session.session_id, text="Go on", responder=responder
    )
    events = iter(streamed.events)
    next(events)

    streamed.events.close()  # type: ignore[attr-defined]

    messages = stored(session.user_id, session.session_id)
    assert [(m.role, m.status) for m in messages] == [("user", "completed"), ("assistant", "stopped")]
    assert messages[-1].content == "word0 "
    assert responder.closed
    assert not responder.finished


def test_the_next_message_after_a_stop_streams_normally() -> None:
    session = session_with_messages(messages=0)
    first = stream_turn(
        user_id=session.user_id, session_id=session.session_id, text="One", responder=SlowStreamResponder()
    )
    events = iter(first.events)
    next(events)
    stops.request_stop(user_id=session.user_id, session_id=session.session_id)
    list(events)
    stops.request_stop(user_id=session.user_id, session_id=session.session_id)  # a late second press

    second = stream_turn(
        user_id=session.user_id,
        session_id=session.session_id,
        text="Two",
        responder=SlowStreamResponder(chunks=3),
    )
    names = [event.event for event in second.events]

    assert names == ["token", "token", "token", "done"]
    messages = stored(session.user_id, session.session_id)
    assert [(m.role, m.status) for m in messages] == [
        ("user", "completed"),
        ("assistant", "stopped"),
        ("user", "completed"),
        ("assistant", "completed"),
    ]
    assert [m.order for m in messages] == [1, 2, 3, 4]


def test_a_stop_in_one_session_does_not_stop_another() -> None:
    user_id = next_user_id()
    streaming = session_with_messages(user_id=user_id)
    other = session_with_messages(user_id=user_id)
    streamed = stream_turn(
        user_id=user_id, session_id=streaming.session_id, text="Hi", responder=SlowStreamResponder(chunks=3)
    )
    events = iter(streamed.events)
    next(events)

    stops.request_stop(user_id=user_id, session_id=other.session_id)

    assert [event.event for event in events][-1] == "done"


def test_stopping_someone_elses_session_is_not_found() -> None:
    session = session_with_messages(messages=0)

    with pytest.raises(SessionNotFound):
        stops.request_stop(user_id=next_user_id(), session_id=session.session_id)
