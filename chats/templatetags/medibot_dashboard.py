"""The admin index's dashboard: today's activity and the health of the write paths, from the
statistics that already exist (the daily-statistics totals, the outbox counters, migration runs)."""

from __future__ import annotations

import logging
from typing import Any

from django import template
from django.db import DatabaseError
from django.utils import timezone
from pymongo.errors import PyMongoError

from audit.models import CHAT_STATISTICS, AuditEvent
from audit.services import Access, record_accesses
from chats import selectors
from chats.models import MigrationRun
from chats.outbox import services as outbox

register = template.Library()
logger = logging.getLogger(__name__)


@register.simple_tag(takes_context=True)
def medibot_dashboard(context: dict[str, Any]) -> dict[str, Any] | None:
    """Figures for staff who may see chat statistics; ``{"unavailable": True}`` when a store is down.

    Store-wide aggregates are audited like the statistics API (one ``chats.statistics`` read).
    """
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.has_perm("chats.view_dailychatstats"):
        return None
    try:
        today = selectors.totals_for_day(day=timezone.now().date())
        latest_run = MigrationRun.objects.order_by("-started_at").first()
        figures = {
            "conversations": today["total_sessions"],
            "new_conversations": today["new_sessions"],
            "messages": today["total_messages"],
            "active_users": today["active_users"],
            "outbox_depth": outbox.depth(),
            "outbox_failed": outbox.failed_count(),
            "latest_run": latest_run,
        }
    except (PyMongoError, DatabaseError) as exc:
        logger.warning("admin dashboard unavailable: %s", exc.__class__.__name__)
        return {"unavailable": True}
    record_accesses(
        actor=user,
        accesses=[Access(AuditEvent.Action.READ, CHAT_STATISTICS, "", owner_id=None)],
        request=request,
    )
    return figures
