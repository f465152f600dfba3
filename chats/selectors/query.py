"""The one way selectors read models: an index-covered first ``$match``, bounded pages."""

from __future__ import annotations

from typing import Any, TypeVar

from django.conf import settings
from django.db.models import Model

from chats import store
from chats.exceptions import InvalidChatInput

M = TypeVar("M", bound=Model)


def page_size(limit: int | None, *, default: int = 20) -> int:
    maximum = settings.CHAT_PAGE_SIZE_MAX
    if limit is None:
        return default
    if not 1 <= limit <= maximum:
        raise InvalidChatInput(f"page size must be between 1 and {maximum}.")
    return limit


def aggregate(
    model: type[M],
    indexed: dict[str, Any],
    rest: dict[str, Any] | None = None,
    *,
    sort: dict[str, int] | None = None,
    limit: int | None = None,
) -> list[M]:
    """One aggregation: an index-covered ``$match`` first, then the other conditions.

    Splitting the filter keeps the first stage within one index on every MongoDB-compatible
    server; MongoDB itself coalesces the two stages.
    """
    pipeline: list[dict[str, Any]] = [{"$match": indexed}]
    if rest:
        pipeline.append({"$match": rest})
    if sort:
        pipeline.append({"$sort": sort})
    if limit is not None:
        pipeline.append({"$limit": limit})
    return store.raw_aggregate(model, pipeline)
