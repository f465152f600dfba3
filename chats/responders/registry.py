"""Which responder answers: ``settings.CHAT_RESPONDER`` names it ("offline" or "openai").

Responders are cached per process and per configuration, so changing the settings (in a test,
with ``override_settings``) gives a responder built from the new values.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chats.responders.base import Responder
from chats.responders.offline import OfflineResponder
from chats.responders.openai_compatible import OpenAICompatibleResponder, ProviderConfig

RESPONDER_NAMES = ("offline", "openai")


def get_responder() -> Responder:
    """The responder chosen by ``settings.CHAT_RESPONDER`` (default "offline")."""
    name = getattr(settings, "CHAT_RESPONDER", "offline")
    if name == "offline":
        return _offline_responder()
    if name == "openai":
        return _openai_responder(ProviderConfig.from_settings())
    raise ImproperlyConfigured(f"CHAT_RESPONDER must be one of {', '.join(RESPONDER_NAMES)}, not {name!r}.")


@lru_cache(maxsize=1)
def _offline_responder() -> OfflineResponder:
    return OfflineResponder()


@lru_cache(maxsize=4)
def _openai_responder(config: ProviderConfig) -> OpenAICompatibleResponder:
    return OpenAICompatibleResponder(config)
