"""The demo patients' conversations (``manage.py seed_demo``): the chat half of the demo data.

Idempotent: fixed session and message ids, written by the same services as the live chat turn
(``append_message`` of the question, ``record_reply`` of the answer), so a rerun stores nothing new.
Replies come from the offline responder with the patient's EHR summary (no network).
"""

from __future__ import annotations

from accounts.models import User
from chats import selectors, services
from chats.exceptions import SessionAlreadyExists
from chats.models import Channel, Role
from chats.responders.offline import OfflineResponder
from ehr.demo import DEMO_PATIENTS
from ehr.selectors import ehr_summary_for


def ensure_demo_conversations(*, users: list[User]) -> int:
    """One conversation per demo patient (fixed ids); returns how many sessions exist for them."""
    responder = OfflineResponder()
    by_username = {demo.username: demo for demo in DEMO_PATIENTS}
    for user in users:
        demo = by_username[user.get_username()]
        session_id = f"demo-{demo.username}"
        try:
            session = services.start_session(
                user_id=user.pk, session_id=session_id, channel=Channel.WEB, title="Demo conversation"
            )
        except SessionAlreadyExists:
            session = selectors.get_session(user_id=user.pk, session_id=session_id)
        ehr = ehr_summary_for(user.pk)
        for number, question in enumerate(demo.questions, start=1):
            asked = services.append_message(
                session=session, role=Role.USER, content=question, message_id=f"{session_id}-q{number}"
            )
            services.record_reply(
                session=session,
                reply=responder.reply(history=[], message=question, ehr=ehr),
                message_id=f"{session_id}-a{number}",
                parent_message_id=asked.message_id,
            )
    return len(users)
