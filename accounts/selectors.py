"""Reads of the accounts app that are more than a plain ``.get()``."""

from __future__ import annotations

from django.db.models import Q

from accounts.languages import AUTO
from accounts.models import ApiToken, User
from medibot.routers import lag_tolerant


def username_is_taken(*, username: str) -> bool:
    """Whether an account already uses this username, ignoring case.

    MariaDB's ``utf8mb4_unicode_ci`` collation makes the unique index case-insensitive, and a
    login as ``Alice`` finds ``alice``; the check matches that instead of waiting for the index.
    """
    return User.objects.filter(username__iexact=User.normalize_username(username)).exists()


@lag_tolerant()
def users_page(*, after: int, size: int) -> list[User]:
    """Users with ids above ``after``, ascending, ``size + 1`` of them (the extra one says "more").

    A staff listing that may be a second stale: served by the read replica when there is one.
    """
    return list(User.objects.filter(pk__gt=after).order_by("pk")[: size + 1])


PEOPLE_SEARCH_LIMIT = 50


def find_people(*, term: str, limit: int = PEOPLE_SEARCH_LIMIT) -> list[int]:
    """Ids of the users a staff search names: a username or email (any case), a phone number or a
    user id, in one query (username, phone and id are unique indexed columns; email is tried only
    for a term with an "@")."""
    term = term.strip()
    if not term or len(term) > 254:
        return []
    match = Q(username__iexact=term)
    if "@" in term:
        match |= Q(email__iexact=term)
    phone = "".join(term.split())
    if phone.startswith("+") and phone[1:].isdigit():
        match |= Q(phone_number=phone)
    if term.isdigit() and len(term) <= 18:
        match |= Q(pk=int(term))
    return list(User.objects.filter(match).order_by("pk").values_list("pk", flat=True)[:limit])


def token_by_key(*, key: str) -> ApiToken | None:
    """The stored token whose digest matches ``key`` (live or not), with its user."""
    return ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()


def search_languages(*, user_ids: list[int]) -> dict[int, str | None]:
    """Each user's fixed search language, None for ``auto`` or no such account, in one query
    (for writers that know only user ids: the outbox, importers, ``rebuild_search``)."""
    fixed = dict(
        User.objects.filter(pk__in=sorted(set(user_ids)))
        .exclude(search_language=AUTO)
        .values_list("pk", "search_language")
    )
    return {user_id: fixed.get(user_id) for user_id in user_ids}


def search_language_of(*, user_id: int) -> str | None:
    """One user's fixed search language (None: ``auto`` or no such account)."""
    return search_languages(user_ids=[user_id])[user_id]
