"""``Authorization: Token <key>`` against hashed, expiring, password-bound API tokens."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from accounts import selectors, services
from accounts.models import ApiToken


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's header format and 401 answers; the key is looked up by its digest only.

    An expired token, or one issued before the user's password last changed, is deleted on
    sight and answers 401 like an unknown one.
    """

    keyword = "Token"
    model = ApiToken

    def authenticate_credentials(self, key: str) -> tuple[Any, ApiToken]:
        token = selectors.token_by_key(key=key)
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.is_live(now=timezone.now()):
            services.revoke_token(token=token)
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        return token.user, token
