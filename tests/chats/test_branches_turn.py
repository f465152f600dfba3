"""Regenerate and edit-and-resend as chat turns: the responder sees the path up to the question,
the new reply lands on a new active branch, and the recent-history cache follows it."""

from __future__ import annotations

import pytest

from chats import recent_history, selectors
from chats.exceptions import InvalidChatInput, MessageNotFound
from chats.models import ChatSession
from chats.services.branches import switch_branch
from chats.services.turn import edit_turn, regenerate_turn, run_turn, stream_regenerate
from tests.chats.factories import next_user_id
from tests.chats.test_turn import ScriptedResponder

pytestmark = pytest.mark.django_db(databases=["default", "chats"])


def two_turns() -> tuple[int, str, list[str]]:
    user_id = next_user_id()
    first = run_turn(user_id=user_id, session_id=None, text="q1", responder=ScriptedResponder(chunks=["a1"]))
    second = run_turn(
        user_id=user_id,
        session_id=first.session.session_id,
        text="q2",
        responder=ScriptedResponder(chunks=["a2"]),
    )
    ids = [
        first.user_message.message_id,
        first.assistant_message.message_id,
        second.user_message.message_id,
        second.assistant_message.message_id,
    ]
    return user_id, first.session.session_id, ids


def thread(user_id: int, session_id: str) -> list[str]:
    session = selectors.get_session(user_id=user_id, session_id=session_id)
    return [message.content for message in selectors.iter_session_messages(session=session)]


def test_regenerating_the_last_reply_answers_the_same_question_on_a_new_branch() -> None:
    user_id, session_id, ids = two_turns()
    responder = ScriptedResponder(chunks=["a2 again"])

    result = regenerate_turn(user_id=user_id, message_id=ids[3], responder=responder)

    assert result.assistant_message.branch == 1
    assert result.user_message.message_id == ids[2]
    assert [(t.role, t.content) for t in responder.seen_history or []] == [
        ("user", "q1"),
        ("assistant", "a1"),
    ]
    assert thread(user_id, session_id) == ["q1", "a1", "q2", "a2 again"]


def test_editing_a_message_resends_it_and_the_responder_sees_only_what_came_before() -> None:
    user_id, session_id, ids = two_turns()
    responder = ScriptedResponder(chunks=["a1 new"])

    result = edit_turn(user_id=user_id, message_id=ids[0], text="q1 edited", responder=responder)

    assert responder.seen_history == []
    assert (result.user_message.branch, result.user_message.order) == (1, 1)
    assert thread(user_id, session_id) == ["q1 edited", "a1 new"]


def test_the_next_turn_after_a_regeneration_continues_the_new_branch_with_its_history() -> None:
    user_id, session_id, ids = two_turns()
    regenerate_turn(user_id=user_id, message_id=ids[1], responder=ScriptedResponder(chunks=["a1 v2"]))
    responder = ScriptedResponder(chunks=["a3"])

    run_turn(user_id=user_id, session_id=session_id, text="q3", responder=responder)

    assert [t.content for t in responder.seen_history or []] == ["q1", "a1 v2"]
    assert thread(user_id, session_id) == ["q1", "a1 v2", "q3", "a3"]


def test_a_streamed_regeneration_stores_the_reply_on_a_new_branch() -> None:
    user_id, session_id, ids = two_turns()

    streamed = stream_regenerate(
        user_id=user_id, message_id=ids[3], responder=ScriptedResponder(chunks=["x", "y"])
    )
    events = list(streamed.events)

    assert [event.event for event in events] == ["token", "token", "done"]
    assert thread(user_id, session_id) == ["q1", "a1", "q2", "xy"]


def test_a_user_message_cannot_be_regenerated_nor_a_reply_edited() -> None:
    user_id, session_id, ids = two_turns()

    with pytest.raises(InvalidChatInput):
        regenerate_turn(user_id=user_id, message_id=ids[2], responder=ScriptedResponder())
    with pytest.raises(InvalidChatInput):
        edit_turn(user_id=user_id, message_id=ids[3], text="no", responder=ScriptedResponder())
    assert thread(user_id, session_id) == ["q1", "a1", "q2", "a2"]


def test_another_users_message_is_not_found() -> None:
    _, _, ids = two_turns()

    with pytest.raises(MessageNotFound):
        regenerate_turn(user_id=next_user_id(), message_id=ids[3], responder=ScriptedResponder())


def test_the_recent_history_cache_follows_the_active_branch() -> None:
    user_id, session_id, ids = two_turns()
    regenerate_turn(user_id=user_id, message_id=ids[3], responder=ScriptedResponder(chunks=["a2 v2"]))

    cached = recent_history.recent_session(user_id=user_id, session_id=session_id)
    assert cached is not None
    assert [m.content for m in cached.messages] == ["q1", "a1", "q2", "a2 v2"]

    session: ChatSession = selectors.get_session(user_id=user_id, session_id=session_id)
    switch_branch(session=session, message=selectors.get_message(user_id=user_id, message_id=ids[3]))
    cached = recent_history.recent_session(user_id=user_id, session_id=session_id)
    assert cached is not None
    assert [m.content for m in cached.messages] == ["q1", "a1", "q2", "a2"]
