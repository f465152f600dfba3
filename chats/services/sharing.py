"""Sharing a conversation with the patient's care team: the conversation must be the patient's own
and not deleted (else SessionNotFound, 404); the share itself is a row on MySQL (``ehr``)."""

from __future__ import annotations

from django.http import HttpRequest

from accounts.models import User
from chats import selectors
from ehr import services as ehr_services
from ehr.models import ConversationShare


def share_session(*, user: User, session_id: str, request: HttpRequest | None = None) -> ConversationShare:
    """Share the user's conversation with the clinicians assigned to them (idempotent)."""
    session = selectors.get_session(user_id=int(user.pk), session_id=session_id)
    return ehr_services.share_conversation(patient_user=user, session_id=session.session_id, request=request)


def unshare_session(*, user: User, session_id: str, request: HttpRequest | None = None) -> bool:
    """Stop sharing; clinicians lose access with their next request. Whether it was shared."""
    session = selectors.get_session(user_id=int(user.pk), session_id=session_id, include_deleted=True)
    return ehr_services.unshare_conversation(
        patient_user=user, session_id=session.session_id, request=request
    )
