"""Clinicians reading the conversations their patients shared with them, each read audited.

A patient shares one conversation at a time with their care team (``ehr.models.ConversationShare``);
a clinician reaches it while assigned to that patient (``PatientProfile.clinicians``). Anything
else — no share, not assigned, unshared a moment ago, a deleted conversation, not a clinician — is
SessionNotFound (404), and nothing else of the patient's is reachable from here. Every list and
every page of messages shown leaves an audit event owned by the patient, so it appears in the
patient's own access log (``GET /api/audit/me``), as ``ehr/access.py`` does for the EHR.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, overload

from django.http import HttpRequest

from audit.models import CHAT_SESSION, AuditEvent
from audit.services import Access, record_accesses
from chats import selectors
from chats.exceptions import SessionNotFound
from chats.models import ChatSession
from chats.selectors.messages import MessagePage
from chats.selectors.sessions import live_sessions_by_id
from ehr import selectors as ehr_selectors
from ehr.models import ConversationShare

SHARED_DETAIL = "shared with the care team"


@dataclass(frozen=True)
class SharedConversation:
    """A shared conversation as its clinician sees it: the session and who shared it, when."""

    share: ConversationShare
    session: ChatSession

    @property
    def patient_user_id(self) -> int:
        return int(self.share.patient.user_id)


@dataclass(frozen=True)
class SharedPage:
    items: list[SharedConversation]
    next_cursor: int | None


def _read_access(shared: SharedConversation, detail: str) -> Access:
    """The audit event of one read of a shared conversation, owned by its patient."""
    return Access(
        AuditEvent.Action.READ,
        CHAT_SESSION,
        shared.session.session_id,
        shared.patient_user_id,
        detail=detail,
    )


def shared_with_me(
    *, clinician: Any, cursor: int | None, size: int, request: HttpRequest | None
) -> SharedPage:
    """The conversations shared with ``clinician``, newest share first: one MySQL query and one
    MongoDB range per patient on the page; audited per listed conversation."""
    shares = ehr_selectors.shares_for_clinician(clinician=clinician, before=cursor, limit=size + 1)
    page, more = shares[:size], len(shares) > size
    wanted: dict[int, list[str]] = defaultdict(list)
    for share in page:
        wanted[int(share.patient.user_id)].append(share.session_id)
    sessions = {
        user_id: live_sessions_by_id(user_id=user_id, session_ids=ids) for user_id, ids in wanted.items()
    }
    items = [
        SharedConversation(share, sessions[int(share.patient.user_id)][share.session_id])
        for share in page
        if share.session_id in sessions[int(share.patient.user_id)]
    ]
    record_accesses(
        actor=clinician, accesses=[_read_access(item, SHARED_DETAIL) for item in items], request=request
    )
    return SharedPage(items=items, next_cursor=page[-1].pk if more and page else None)


@dataclass(frozen=True)
class MessageWindow:
    """Which page of messages to read: the newest ``limit``, or ``limit`` before/after an order."""

    limit: int
    before: int | None
    after: int | None


@overload
def _read_shared(
    *, clinician: Any, session_id: str, window: None, request: HttpRequest | None
) -> tuple[SharedConversation, None]: ...


@overload
def _read_shared(
    *, clinician: Any, session_id: str, window: MessageWindow, request: HttpRequest | None
) -> tuple[SharedConversation, MessagePage]: ...


def _read_shared(
    *, clinician: Any, session_id: str, window: MessageWindow | None, request: HttpRequest | None
) -> tuple[SharedConversation, MessagePage | None]:
    """The one read path into a shared conversation: the access check, then the conversation alone
    (``window`` None) or a page of its messages, then one audited read naming what was shown."""
    share = ehr_selectors.share_for_clinician(clinician=clinician, session_id=session_id)
    if share is None:
        raise SessionNotFound()
    session = selectors.get_session(user_id=int(share.patient.user_id), session_id=share.session_id)
    shared = SharedConversation(share, session)
    page: MessagePage | None = None
    detail = SHARED_DETAIL
    if window is not None:
        page = selectors.message_page(
            session=session, limit=window.limit, before=window.before, after=window.after
        )
        orders = [message.order for message in page.items]
        detail = (
            f"messages {min(orders)}-{max(orders)} of {session.message_count}, {SHARED_DETAIL}"
            if orders
            else f"no messages, {SHARED_DETAIL}"
        )
    record_accesses(actor=clinician, accesses=[_read_access(shared, detail)], request=request)
    return shared, page


def shared_conversation(
    *, clinician: Any, session_id: str, request: HttpRequest | None
) -> SharedConversation:
    """One shared conversation (its title and counts); audited as a read of the conversation."""
    shared, _ = _read_shared(clinician=clinician, session_id=session_id, window=None, request=request)
    return shared


def shared_messages(
    *,
    clinician: Any,
    session_id: str,
    limit: int,
    before: int | None,
    after: int | None,
    request: HttpRequest | None,
) -> tuple[SharedConversation, MessagePage]:
    """A page of a shared conversation's messages (the same page read as the patient's own);
    audited as one read of the conversation naming the messages shown."""
    return _read_shared(
        clinician=clinician,
        session_id=session_id,
        window=MessageWindow(limit=limit, before=before, after=after),
        request=request,
    )
