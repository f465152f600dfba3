"""Production: no secret defaults, HTTPS everywhere, allowed hosts from the environment."""

from django.core.exceptions import ImproperlyConfigured

from medibot.logs import logging_config

from .base import *  # noqa: F403
from .base import CHAT_ENCRYPTION, CHAT_ENCRYPTION_KMS_PROVIDER, LOG_FORMAT, LOG_LEVEL, env

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not DEBUG and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set (50+ characters) when DEBUG is off.")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

# Production never generates a master key: the local provider's key comes from the environment
# (CHAT_ENCRYPTION_LOCAL_KEY, or a mounted CHAT_ENCRYPTION_LOCAL_KEY_FILE), or a cloud KMS is used.
CHAT_ENCRYPTION_GENERATE_LOCAL_KEY = False
if (
    CHAT_ENCRYPTION == "on"
    and CHAT_ENCRYPTION_KMS_PROVIDER == "local"
    and not (
        env.str("CHAT_ENCRYPTION_LOCAL_KEY", default="")
        or env.str("CHAT_ENCRYPTION_LOCAL_KEY_FILE", default="")
    )
):
    raise ImproperlyConfigured(
        "CHAT_ENCRYPTION_LOCAL_KEY or CHAT_ENCRYPTION_LOCAL_KEY_FILE must be set (the 96-byte master key)."
    )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Secure cookies follow the redirect: a plain-HTTP trial (DJANGO_SECURE_SSL_REDIRECT=false) can sign in.
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

# One JSON object per log line for the log shipper, unless LOG_FORMAT says otherwise.
LOGGING = logging_config(log_format=LOG_FORMAT or "json", level=LOG_LEVEL)
