"""Statistics: per session, token usage, daily totals, store-wide totals."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from bson import Decimal128, Int64
from django.utils import timezone

from chats import store
from chats.models import ChatMessage, ChatSession, DailyChatStats, MessageVote, Role, TokenUsage
from chats.selectors.messages import messages_in_range
from medibot.mongodb.shard_guard import unscoped


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.get_current_timezone())
    return start, start + timedelta(days=1)


def _number(value: Any) -> Decimal:
    if isinstance(value, Decimal128):
        return value.to_decimal()
    return Decimal(value or 0)


def session_statistics(*, session: ChatSession) -> dict[str, Any]:
    owned = {"user_id": Int64(session.user_id), "session_id": session.pk}
    by_role = {
        row["_id"]: row["count"]
        for row in store.collection(ChatMessage).aggregate(
            [{"$match": owned}, {"$group": {"_id": "$role", "count": {"$sum": 1}}}]
        )
    }
    usage = next(
        store.collection(TokenUsage).aggregate(
            [
                {"$match": owned},
                {"$group": {"_id": None, "tokens": {"$sum": "$total_tokens"}, "cost": {"$sum": "$cost"}}},
            ]
        ),
        {"tokens": 0, "cost": 0},
    )
    votes = {
        row["_id"]: row["count"]
        for row in store.collection(MessageVote).aggregate(
            [{"$match": owned}, {"$group": {"_id": "$vote_type", "count": {"$sum": 1}}}]
        )
    }
    first = next(iter(messages_in_range(session=session, low=1, high=1)), None)
    return {
        "total_messages": session.message_count,
        "message_counts_by_role": {role: by_role.get(role, 0) for role in Role.values},
        "total_tokens": int(usage["tokens"]),
        "total_cost": _number(usage["cost"]),
        "votes": {"up": votes.get("up", 0), "down": votes.get("down", 0)},
        "first_message_at": first.created_at if first else None,
        "last_message_at": session.last_message_at,
    }


def token_usage_by_model(
    *,
    user_id: int,
    session: ChatSession | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    match: dict[str, Any] = {"user_id": Int64(user_id)}
    if session is not None:
        match["session_id"] = session.pk
    if since or until:
        match["created_at"] = {
            **({"$gte": since} if since else {}),
            **({"$lt": until} if until else {}),
        }
    rows = store.collection(TokenUsage).aggregate(
        [
            {"$match": match},
            {
                "$group": {
                    "_id": "$model",
                    "prompt_tokens": {"$sum": "$prompt_tokens"},
                    "completion_tokens": {"$sum": "$completion_tokens"},
                    "total_tokens": {"$sum": "$total_tokens"},
                    "cost": {"$sum": "$cost"},
                    "messages": {"$sum": 1},
                }
            },
            {"$sort": {"_id": 1}},
        ]
    )
    by_model: dict[str, dict[str, Any]] = {
        row["_id"]: {
            "prompt_tokens": int(row["prompt_tokens"]),
            "completion_tokens": int(row["completion_tokens"]),
            "total_tokens": int(row["total_tokens"]),
            "cost": _number(row["cost"]),
            "messages": int(row["messages"]),
        }
        for row in rows
    }
    total_tokens = sum(int(row["total_tokens"]) for row in by_model.values())
    total_cost = sum((Decimal(row["cost"]) for row in by_model.values()), Decimal(0))
    return {"by_model": by_model, "total_tokens": total_tokens, "total_cost": total_cost}


@unscoped("background: daily statistics")
def totals_for_day(*, day: date) -> dict[str, Any]:
    """Totals of one UTC day over every user (a background job; not on the request path)."""
    start, end = day_bounds(day)
    window = {"created_at": {"$gte": start, "$lt": end}}
    messages = store.collection(ChatMessage)
    roles: Counter[str] = Counter()
    per_session: Counter[Any] = Counter()
    users: set[int] = set()
    for row in messages.aggregate(
        [
            {"$match": window},
            {"$group": {"_id": {"s": "$session_id", "r": "$role", "u": "$user_id"}, "n": {"$sum": 1}}},
        ]
    ):
        roles[row["_id"]["r"]] += row["n"]
        per_session[row["_id"]["s"]] += row["n"]
        users.add(int(row["_id"]["u"]))
    tokens_by_model: dict[str, int] = {}
    cost_by_model: dict[str, str] = {}
    total_cost = Decimal(0)
    for row in store.collection(TokenUsage).aggregate(
        [
            {"$match": window},
            {"$group": {"_id": "$model", "tokens": {"$sum": "$total_tokens"}, "cost": {"$sum": "$cost"}}},
            {"$sort": {"_id": 1}},
        ]
    ):
        tokens_by_model[row["_id"]] = int(row["tokens"])
        cost = _number(row["cost"])
        cost_by_model[row["_id"]] = str(cost)
        total_cost += cost
    new_sessions = store.collection(ChatSession).count_documents(window)
    total_messages = sum(roles.values())
    return {
        "total_sessions": len(per_session),
        "new_sessions": new_sessions,
        "total_messages": total_messages,
        "active_users": len(users),
        "total_tokens": sum(tokens_by_model.values()),
        "total_cost": total_cost,
        "tokens_by_model": tokens_by_model,
        "cost_by_model": cost_by_model,
        "messages_by_role": dict(sorted(roles.items())),
        "average_session_length": round(total_messages / len(per_session), 2) if per_session else 0.0,
    }


@unscoped("staff: store-wide statistics")
def global_statistics(*, days: int = 30) -> dict[str, Any]:
    """Store-wide totals for staff (a full aggregation: background/staff use only)."""
    messages_by_role = {
        row["_id"]: row["count"]
        for row in store.collection(ChatMessage).aggregate(
            [{"$group": {"_id": "$role", "count": {"$sum": 1}}}]
        )
    }
    tokens_by_model = {
        row["_id"]: int(row["tokens"])
        for row in store.collection(TokenUsage).aggregate(
            [{"$group": {"_id": "$model", "tokens": {"$sum": "$total_tokens"}}}, {"$sort": {"_id": 1}}]
        )
    }
    sessions = store.collection(ChatSession)
    return {
        "total_sessions": sessions.count_documents({"deleted_at": None}),
        "total_messages": sum(messages_by_role.values()),
        "total_users": len(sessions.distinct("user_id")),
        "messages_by_role": messages_by_role,
        "tokens_by_model": tokens_by_model,
        "daily": list(DailyChatStats.objects.order_by("-date")[:days]),
    }
