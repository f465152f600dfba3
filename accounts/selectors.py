"""Reads of the accounts app that are more than a plain ``.get()``."""

from __future__ import annotations

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


def token_by_key(*, key: str) -> ApiToken | None:
    """The stored token whose digest matches ``key`` (live or not), with its user."""
    return ApiToken.objects.select_related("user").filter(digest=ApiToken.digest_of(key)).first()
